"""Quantizes a GGUF model with llama.cpp's own llama_model_quantize (from
node-llama-cpp's libllama), for the Go tests and benchmarks.

usage: llama_quantize.py LIBLLAMA IN OUT FTYPE   (FTYPE: llama_ftype number)
"""
import ctypes, os, sys

lib_path, inp, outp, ftype = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
os.chdir(os.path.dirname(lib_path))  # its ggml backends load from here
lib = ctypes.CDLL(lib_path, mode=ctypes.RTLD_GLOBAL)


class Params(ctypes.Structure):
    # llama_model_quantize_params starts with int32 nthread, int32 ftype; the
    # rest keeps its defaults, so only room for it is needed.
    _fields_ = [("nthread", ctypes.c_int32), ("ftype", ctypes.c_int32), ("rest", ctypes.c_byte * 248)]


lib.llama_model_quantize_default_params.restype = Params
lib.llama_model_quantize.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(Params)]
lib.llama_model_quantize.restype = ctypes.c_uint32
lib.llama_log_set.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
lib.llama_log_set(ctypes.cast(ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)(lambda *a: None), ctypes.c_void_p), None)
lib.llama_backend_init()
p = lib.llama_model_quantize_default_params()
p.nthread, p.ftype = 1, ftype
rc = lib.llama_model_quantize(os.path.abspath(inp).encode(), os.path.abspath(outp).encode(), ctypes.byref(p))
sys.exit(rc)
