"""Runs ggml's Q8_K activation quantizer (quantize_row_q8_K_ref, from
libggml-base) and its AVX2 K-quant dots (ggml_vec_dot_q4_K_q8_K and
ggml_vec_dot_q6_K_q8_K, from libggml-cpu-haswell) of node-llama-cpp for the
Go tests, through ctypes.

usage: ggml_q8k.py LIBDIR NB IN OUT
IN holds R float32 rows of NB·256 values, then R Q4_K rows and R Q6_K rows
of NB blocks each; OUT receives ggml's Q8_K blocks of the float rows, then R
float32 Q4_K dots and R float32 Q6_K dots, row i with row i.
"""
import ctypes, os, sys

libdir, nb, inp, outp = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
base = ctypes.CDLL(os.path.join(libdir, "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
cpu = ctypes.CDLL(os.path.join(libdir, "libggml-cpu-haswell.so"))
cpu.ggml_cpu_init()  # fills the half-to-float table the dots read
n = nb * 256
data = open(inp, "rb").read()
rows = len(data) // (4 * n + nb * 144 + nb * 210)
floats = data[:rows * 4 * n]
q4 = data[rows * 4 * n:rows * (4 * n + nb * 144)]
q6 = data[rows * (4 * n + nb * 144):]

quant = base.quantize_row_q8_K_ref
quant.restype = None
quant.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int64]
act = ctypes.create_string_buffer(rows * nb * 292)
for r in range(rows):
    quant(floats[r * 4 * n:(r + 1) * 4 * n], ctypes.byref(act, r * nb * 292), n)

out = bytearray(act.raw)
for name, w, bb in (("q4_K", q4, 144), ("q6_K", q6, 210)):
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
