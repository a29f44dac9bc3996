"""Runs ggml's own quantizers and dequantizers (libggml-base from
node-llama-cpp) for the Go tests, through ctypes.

usage: ggml_quants.py LIB TYPE ROWLEN IN OUT
IN holds float32 rows (ROWLEN values each) followed by raw blocks of TYPE;
OUT receives the blocks ggml's quantize_TYPE made of those rows, then the raw
blocks again, then ggml's dequantization of all those blocks as float32.
"""
import ctypes, sys

lib_path, typ, rowlen, inp, outp = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
lib = ctypes.CDLL(lib_path)
bs, bb = {
    "q4_0": (32, 18), "q4_1": (32, 20), "q5_0": (32, 22), "q5_1": (32, 24), "q8_0": (32, 34),
    "q2_K": (256, 84), "q3_K": (256, 110), "q4_K": (256, 144), "q5_K": (256, 176), "q6_K": (256, 210),
}[typ]
data = open(inp, "rb").read()
nfloat_bytes = int.from_bytes(data[:8], "little")
floats, raw = data[8:8 + nfloat_bytes], data[8 + nfloat_bytes:]
nrows = nfloat_bytes // 4 // rowlen
qbytes = nrows * rowlen // bs * bb
qbuf = ctypes.create_string_buffer(max(qbytes, 1))
quant = getattr(lib, "quantize_" + typ)
quant.restype = ctypes.c_size_t
quant.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
if nrows:
    got = quant(floats, qbuf, nrows, rowlen, None)
    assert got == qbytes, (got, qbytes)
blocks = qbuf.raw[:qbytes] + raw
n = len(blocks) // bb * bs
out = (ctypes.c_float * max(n, 1))()
deq = getattr(lib, "dequantize_row_" + typ)
deq.restype = None
deq.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int64]
deq(blocks, out, n)
with open(outp, "wb") as f:
    f.write(blocks)
    f.write(bytes(out)[:4 * n])
