"""Runs ggml's Q8_1 activation quantizer (quantize_row_q8_1_ref, in
libggml-base) and its AVX2 dots of Q4_1 and Q5_1 weights with Q8_1
activations (ggml_vec_dot_q4_1_q8_1 and _q5_1_q8_1 of libggml-cpu-haswell,
the build llama.cpp runs on AVX2 CPUs) for the Go tests, through ctypes.

usage: ggml_dot81.py BINDIR TYPE N IN OUT
IN holds R rows of N float32 activations, then C rows of N/32 TYPE blocks
(R and C as two little-endian uint32 first). OUT receives ggml's Q8_1
blocks of the R rows, then the R x C dots as float32, row by row.
"""
import ctypes, os, struct, sys

bindir, typ, n, inp, outp = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
base = ctypes.CDLL(os.path.join(bindir, "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
cpu = ctypes.CDLL(os.path.join(bindir, "libggml-cpu-haswell.so"))
cpu.ggml_cpu_init()  # fills the half-to-float table the dots read
bb = {"q4_1": 20, "q5_1": 24}[typ]
data = open(inp, "rb").read()
R, C = struct.unpack_from("<II", data)
xs, ws = data[8:8 + 4 * R * n], data[8 + 4 * R * n:]
nb = n // 32
quant = base.quantize_row_q8_1_ref
quant.restype = None
quant.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int64]
act = ctypes.create_string_buffer(R * nb * 36)
for r in range(R):
    quant(xs[4 * r * n:4 * (r + 1) * n], ctypes.byref(act, r * nb * 36), n)
dot = getattr(cpu, "ggml_vec_dot_" + typ + "_q8_1")
dot.restype = None
dot.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
                ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
out = (ctypes.c_float * (R * C))()
for r in range(R):
    for c in range(C):
        dot(n, ctypes.byref(out, 4 * (r * C + c)), 0, ws[c * nb * bb:(c + 1) * nb * bb], 0,
            ctypes.byref(act, r * nb * 36), 0, 1)
with open(outp, "wb") as f:
    f.write(act.raw)
    f.write(bytes(out))
