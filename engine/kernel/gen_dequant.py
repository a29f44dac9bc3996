#!/usr/bin/env python3
"""Writes dequant_amd64.s: AVX2 decoders of GGUF blocks into float32.

Each routine turns nb blocks into floats with the operations of
gguf.Dequantize (ggml's dequantize_row_*): the quants widened to int32,
converted, multiplied by a scale the Go caller computed per block or
sub-block (exactly as ggml does, in scalar float32), and, for the formats
with a minimum, the minimum subtracted after the rounded product. No
fused multiply-add, so every value has ggml's bits. All instructions are
VEX-encoded and the routines end with VZEROUPPER.
"""

out = []
emit = out.append


def header(name, args, frame=0):
    emit(f"\n// func {name}({args})")
    emit(f"TEXT ·{name}(SB), NOSPLIT, ${frame}-32")
    emit("\tMOVQ y+0(FP), DI")
    emit("\tMOVQ src+8(FP), SI")
    emit("\tMOVQ s+16(FP), DX")
    emit("\tMOVQ nb+24(FP), CX")
    emit("\tTESTQ CX, CX")
    emit("\tJZ done")


def footer():
    emit("done:")
    emit("\tVZEROUPPER")
    emit("\tRET")


def const(reg, value):
    emit(f"\tMOVL ${value:#x}, AX")
    emit(f"\tVMOVD AX, X{reg}")
    emit(f"\tVPBROADCASTD X{reg}, Y{reg}")


ARGS = "y *float32, src *byte, s *float32, nb int"

# Q8_0: 34-byte blocks, a half scale then 32 int8 quants; s[i] is block i's scale.
header("deqQ8_0", ARGS)
emit("loop:")
emit("\tVBROADCASTSS (DX), Y15")
for g in range(4):
    emit(f"\tVPMOVSXBD {2 + 8 * g}(SI), Y{g}")
for g in range(4):
    emit(f"\tVCVTDQ2PS Y{g}, Y{g}")
    emit(f"\tVMULPS Y15, Y{g}, Y{g}")
    emit(f"\tVMOVUPS Y{g}, {32 * g}(DI)")
emit("\tADDQ $34, SI")
emit("\tADDQ $4, DX")
emit("\tADDQ $128, DI")
emit("\tDECQ CX")
emit("\tJNZ loop")
footer()

# Q4_0: 18-byte blocks, a half scale then 16 bytes of nibbles: value j is the
# low nibble of byte j, value j+16 the high one, both less 8.
header("deqQ4_0", ARGS)
const(14, 0x0F)
const(13, 8)
emit("loop:")
emit("\tVBROADCASTSS (DX), Y15")
for h in range(2):
    emit(f"\tVPMOVZXBD {2 + 8 * h}(SI), Y{2 * h}")
    emit(f"\tVPAND Y14, Y{2 * h}, Y{2 * h + 1}")
    emit(f"\tVPSRLD $4, Y{2 * h}, Y{2 * h}")
    # low nibbles of bytes 8h.. go to y[8h..], high ones to y[16+8h..]
    for reg, off in ((2 * h + 1, 8 * h), (2 * h, 16 + 8 * h)):
        emit(f"\tVPSUBD Y13, Y{reg}, Y{reg}")
        emit(f"\tVCVTDQ2PS Y{reg}, Y{reg}")
        emit(f"\tVMULPS Y15, Y{reg}, Y{reg}")
        emit(f"\tVMOVUPS Y{reg}, {4 * off}(DI)")
emit("\tADDQ $18, SI")
emit("\tADDQ $4, DX")
emit("\tADDQ $128, DI")
emit("\tDECQ CX")
emit("\tJNZ loop")
footer()

# Q4_K: 144-byte superblocks: d, dmin, twelve bytes of 6-bit scales and
# minimums, qs at 16. s holds each superblock's d and dmin; the eight d·sc_j
# and dmin·m_j are made here into the frame (ggml's get_scale_min_k4, four
# sub-blocks per 128-bit lane, then its scalar products' roundings). Chunk c
# of 32 qs bytes gives values 64c.. (low nibbles, sub-block 2c) and
# 64c+32.. (high nibbles, sub-block 2c+1).
header("deqQ4_K", ARGS, frame=64)
const(14, 0x0F)
const(9, 63)
emit("loop:")
emit("\tVPMOVZXBD 4(SI), X0")    # A = q[0..3]
emit("\tVPMOVZXBD 8(SI), X1")    # B = q[4..7]
emit("\tVPMOVZXBD 12(SI), X2")   # C = q[8..11]
emit("\tVPAND X9, X0, X3")       # sc 0..3 = A & 63
emit("\tVPAND X14, X2, X4")      # sc 4..7 = C&15 | (A>>6)<<4
emit("\tVPSRLD $6, X0, X5")
emit("\tVPSLLD $4, X5, X5")
emit("\tVPOR X5, X4, X4")
emit("\tVINSERTI128 $1, X4, Y3, Y3")
emit("\tVPAND X9, X1, X6")       # m 0..3 = B & 63
emit("\tVPSRLD $4, X2, X7")      # m 4..7 = C>>4 | (B>>6)<<4
emit("\tVPSRLD $6, X1, X5")
emit("\tVPSLLD $4, X5, X5")
emit("\tVPOR X5, X7, X7")
emit("\tVINSERTI128 $1, X7, Y6, Y6")
emit("\tVCVTDQ2PS Y3, Y3")
emit("\tVCVTDQ2PS Y6, Y6")
emit("\tVBROADCASTSS (DX), Y10")
emit("\tVBROADCASTSS 4(DX), Y11")
emit("\tVMULPS Y10, Y3, Y3")
emit("\tVMULPS Y11, Y6, Y6")
emit("\tVMOVUPS Y3, 0(SP)")
emit("\tVMOVUPS Y6, 32(SP)")
emit("\tMOVQ $4, R8")
emit("\tLEAQ 16(SI), R9")
emit("\tMOVQ SP, R10")
emit("chunk:")
emit("\tVBROADCASTSS (R10), Y12")
emit("\tVBROADCASTSS 4(R10), Y13")
emit("\tVBROADCASTSS 32(R10), Y10")
emit("\tVBROADCASTSS 36(R10), Y11")
for g in range(4):
    emit(f"\tVPMOVZXBD {8 * g}(R9), Y0")
    emit("\tVPAND Y14, Y0, Y1")
    emit("\tVPSRLD $4, Y0, Y0")
    emit("\tVCVTDQ2PS Y1, Y1")
    emit("\tVCVTDQ2PS Y0, Y0")
    emit("\tVMULPS Y12, Y1, Y1")
    emit("\tVMULPS Y13, Y0, Y0")
    emit("\tVSUBPS Y10, Y1, Y1")
    emit("\tVSUBPS Y11, Y0, Y0")
    emit(f"\tVMOVUPS Y1, {32 * g}(DI)")
    emit(f"\tVMOVUPS Y0, {128 + 32 * g}(DI)")
emit("\tADDQ $32, R9")
emit("\tADDQ $8, R10")
emit("\tADDQ $256, DI")
emit("\tDECQ R8")
emit("\tJNZ chunk")
emit("\tADDQ $144, SI")
emit("\tADDQ $8, DX")
emit("\tDECQ CX")
emit("\tJNZ loop")
footer()

# Q5_K: Q4_K with a fifth bit per value, bit j of qh[l] (qh at 16, qs at
# 48) for value l of sub-block j, adding 16 to the nibble. s as for Q4_K.
header("deqQ5_K", ARGS, frame=64)
const(14, 0x0F)
const(9, 63)
const(8, 16)
emit("loop:")
emit("\tVPMOVZXBD 4(SI), X0")
emit("\tVPMOVZXBD 8(SI), X1")
emit("\tVPMOVZXBD 12(SI), X2")
emit("\tVPAND X9, X0, X3")
emit("\tVPAND X14, X2, X4")
emit("\tVPSRLD $6, X0, X5")
emit("\tVPSLLD $4, X5, X5")
emit("\tVPOR X5, X4, X4")
emit("\tVINSERTI128 $1, X4, Y3, Y3")
emit("\tVPAND X9, X1, X6")
emit("\tVPSRLD $4, X2, X7")
emit("\tVPSRLD $6, X1, X5")
emit("\tVPSLLD $4, X5, X5")
emit("\tVPOR X5, X7, X7")
emit("\tVINSERTI128 $1, X7, Y6, Y6")
emit("\tVCVTDQ2PS Y3, Y3")
emit("\tVCVTDQ2PS Y6, Y6")
emit("\tVBROADCASTSS (DX), Y10")
emit("\tVBROADCASTSS 4(DX), Y11")
emit("\tVMULPS Y10, Y3, Y3")
emit("\tVMULPS Y11, Y6, Y6")
emit("\tVMOVUPS Y3, 0(SP)")
emit("\tVMOVUPS Y6, 32(SP)")


def bit16(src, j, dst):
    # dst = ((src >> j) & 1) << 4, as a shift to bit 4 and a mask of 16
    if j < 4:
        emit(f"\tVPSLLD ${4 - j}, {src}, {dst}")
    elif j > 4:
        emit(f"\tVPSRLD ${j - 4}, {src}, {dst}")
    else:
        emit(f"\tVMOVDQU {src}, {dst}")
    emit(f"\tVPAND Y8, {dst}, {dst}")


for c in range(4):
    emit(f"\tVBROADCASTSS {8 * c}(SP), Y12")
    emit(f"\tVBROADCASTSS {8 * c + 4}(SP), Y13")
    emit(f"\tVBROADCASTSS {32 + 8 * c}(SP), Y10")
    emit(f"\tVBROADCASTSS {32 + 8 * c + 4}(SP), Y11")
    for g in range(4):
        emit(f"\tVPMOVZXBD {48 + 32 * c + 8 * g}(SI), Y0")
        emit(f"\tVPMOVZXBD {16 + 8 * g}(SI), Y2")
        emit("\tVPAND Y14, Y0, Y1")
        emit("\tVPSRLD $4, Y0, Y0")
        bit16("Y2", 2 * c, "Y4")
        emit("\tVPOR Y4, Y1, Y1")
        bit16("Y2", 2 * c + 1, "Y4")
        emit("\tVPOR Y4, Y0, Y0")
        emit("\tVCVTDQ2PS Y1, Y1")
        emit("\tVCVTDQ2PS Y0, Y0")
        emit("\tVMULPS Y12, Y1, Y1")
        emit("\tVMULPS Y13, Y0, Y0")
        emit("\tVSUBPS Y10, Y1, Y1")
        emit("\tVSUBPS Y11, Y0, Y0")
        emit(f"\tVMOVUPS Y1, {256 * c + 32 * g}(DI)")
        emit(f"\tVMOVUPS Y0, {256 * c + 128 + 32 * g}(DI)")
emit("\tADDQ $176, SI")
emit("\tADDQ $8, DX")
emit("\tADDQ $1024, DI")
emit("\tDECQ CX")
emit("\tJNZ loop")
footer()

# Q6_K: 210-byte superblocks, ql[128], qh[64], int8 scales[16], d. s holds
# each superblock's d; the sixteen products d·scale are made here, rounded
# as ggml's scalar d * scale is, into the frame. Each half n of 128 values
# reads ql[64n:], qh[32n:]; for l < 32, value l+32k takes 4 bits of ql and
# 2 bits of qh, less 32, times scale 8n + l/16 + 2k.
header("deqQ6_K", ARGS, frame=64)
const(14, 0x0F)
const(13, 0x30)
const(12, 32)
emit("loop:")
emit("\tVBROADCASTSS (DX), Y9")
for i in range(2):
    emit(f"\tVPMOVSXBD {192 + 8 * i}(SI), Y10")
    emit("\tVCVTDQ2PS Y10, Y10")
    emit("\tVMULPS Y9, Y10, Y10")
    emit(f"\tVMOVUPS Y10, {32 * i}(SP)")
emit("\tMOVQ $2, R8")
emit("\tMOVQ SI, R9")
emit("\tLEAQ 128(SI), R10")
emit("\tMOVQ SP, R11")
emit("half:")
for g in range(4):
    isb = g // 2
    emit(f"\tVPMOVZXBD {8 * g}(R9), Y0")       # A = ql[l..]
    emit(f"\tVPMOVZXBD {32 + 8 * g}(R9), Y1")  # B = ql[l+32..]
    emit(f"\tVPMOVZXBD {8 * g}(R10), Y2")      # H = qh[l..]
    # q1 = A&15 | (H<<4)&0x30
    emit("\tVPAND Y14, Y0, Y3")
    emit("\tVPSLLD $4, Y2, Y4")
    emit("\tVPAND Y13, Y4, Y4")
    emit("\tVPOR Y4, Y3, Y3")
    # q2 = B&15 | (H<<2)&0x30
    emit("\tVPAND Y14, Y1, Y5")
    emit("\tVPSLLD $2, Y2, Y4")
    emit("\tVPAND Y13, Y4, Y4")
    emit("\tVPOR Y4, Y5, Y5")
    # q3 = A>>4 | H&0x30
    emit("\tVPSRLD $4, Y0, Y6")
    emit("\tVPAND Y13, Y2, Y4")
    emit("\tVPOR Y4, Y6, Y6")
    # q4 = B>>4 | (H>>2)&0x30
    emit("\tVPSRLD $4, Y1, Y7")
    emit("\tVPSRLD $2, Y2, Y4")
    emit("\tVPAND Y13, Y4, Y4")
    emit("\tVPOR Y4, Y7, Y7")
    for k, reg in enumerate((3, 5, 6, 7)):
        emit(f"\tVPSUBD Y12, Y{reg}, Y{reg}")
        emit(f"\tVCVTDQ2PS Y{reg}, Y{reg}")
        emit(f"\tVBROADCASTSS {4 * (isb + 2 * k)}(R11), Y8")
        emit(f"\tVMULPS Y8, Y{reg}, Y{reg}")
        emit(f"\tVMOVUPS Y{reg}, {4 * (8 * g + 32 * k)}(DI)")
emit("\tADDQ $64, R9")
emit("\tADDQ $32, R10")
emit("\tADDQ $32, R11")
emit("\tADDQ $512, DI")
emit("\tDECQ R8")
emit("\tJNZ half")
emit("\tADDQ $210, SI")
emit("\tADDQ $4, DX")
emit("\tDECQ CX")
emit("\tJNZ loop")
footer()

# Labels are local to a TEXT symbol in Go assembly.
with open("dequant_amd64.s", "w") as f:
    f.write("//go:build goexperiment.simd && amd64\n\n")
    f.write("// Code generated by gen_dequant.py; DO NOT EDIT.\n\n")
    f.write('#include "textflag.h"\n')
    f.write("\n".join(out) + "\n")
