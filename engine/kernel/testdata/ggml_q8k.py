"""Runs ggml's Q8_K activation quantizer (quantize_row_q8_K_ref, from
libggml-base) and its AVX2 K-quant dots (ggml_vec_dot_q{2,3,4,5,6}_K_q8_K,
from libggml-cpu-haswell) of node-llama-cpp for the Go tests, through
ctypes.

usage: ggml_q8k.py LIBDIR NB IN OUT
IN holds R float32 rows of NB·256 values, then R rows of NB blocks of each of
Q4_K, Q5_K, Q6_K, Q2_K and Q3_K; OUT receives ggml's Q8_K blocks of the
float rows, then R float32 dots per type, row i with row i.
"""
import ctypes, os, sys

libdir, nb, inp, outp = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
base = ctypes.CDLL(os.path.join(libdir, "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
cpu = ctypes.CDLL(os.path.join(libdir, "libggml-cpu-haswell.so"))
cpu.ggml_cpu_init()  # fills the half-to-float table the dots read
n = nb * 256
data = open(inp, "rb").read()
types = (("q4_K", 144), ("q5_K", 176), ("q6_K", 210), ("q2_K", 84), ("q3_K", 110))
rows = len(data) // (4 * n + nb * sum(bb for _, bb in types))
floats = data[:rows * 4 * n]
weights, at = [], rows * 4 * n
for name, bb in types:
    weights.append((name, data[at:at + rows * nb * bb], bb))
    at += rows * nb * bb

quant = base.quantize_row_q8_K_ref
quant.restype = None
quant.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int64]
act = ctypes.create_string_buffer(rows * nb * 292)
for r in range(rows):
    quant(floats[r * 4 * n:(r + 1) * 4 * n], ctypes.byref(act, r * nb * 292), n)

out = bytearray(act.raw)
for name, w, bb in weights:
    dot = getattr(cpu, "ggml_vec_dot_%s_q8_K" % name)
    dot.restype = None
    dot.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
                    ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    s = (ctypes.c_float * rows)()
    for r in range(rows):
        dot(n, ctypes.byref(s, 4 * r), 0, w[r * nb * bb:(r + 1) * nb * bb], 0,
            ctypes.byref(act, r * nb * 292), 0, 1)
    out += bytes(s)
open(outp, "wb").write(out)
