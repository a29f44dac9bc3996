#!/usr/bin/env python3
"""Writes dotq_amd64.s and dotq_amd64.go: AVX2 fused decode-and-dot kernels
for GGUF blocks, used when few activation rows (decode, small batches)
meet a quantized weight matrix.

A kernel qdot{T}x{R}x{C} computes the R×C dots of R float32 x rows with C
stored weight rows, nb blocks each. Every group of 8 weights is decoded in
registers with exactly the operations of gen_dequant.py (ggml's values, bit
for bit: no fused multiply-add in the decoding) and fed straight into the
recipe of the AVX2 float32 tiles (gen_asm_avx2.py): one 8-lane accumulator
per dot from zero, one FMA per 8-group in ascending order, then lo+hi and
two VHADDPS. So every output has the bits MatMul gives on the dequantized
matrix, whatever the shape of the kernel that computed it (batch
invariance), without writing the decoded panel to memory and reading it
back. Block scales are halves widened with VCVTPH2PS (F16C), which is exact
for every half. The accumulators are Y12-Y15, so R·C ≤ 4.

Why float and not ggml's integer dots (activations quantized to Q8_K/Q8_0,
VPMADDUBSW): those change every output by the activation rounding, which the
float64-reference tolerance of the model tests (1e-4 on logits; this path
is at 2.5e-6) and the bit-identity with the batched panel path would not
survive. The price: a bit-exact K-quant value costs a conversion, a product
and a difference before its FMA, so these kernels are bound by the FP pipes
(about 7.7 G weights/s per thread for Q4_K on the EPYC test host, against
12-15 for Q4_0 and Q8_0), where integer dots need about a quarter of the
operations.

The same bodies, storing instead of accumulating, give the panel decoders
(deq2{T}) of the types gen_dequant.py does not cover.
"""

from asmtile import W, X

SHAPES = [(1, 4), (1, 1), (2, 2), (2, 1), (3, 1), (4, 1)]
ACC = 12

out = []
emit = out.append


class Kernel:
    def __init__(self, R, C, store=False):
        self.R, self.C, self.store = R, C, store

    def acc(self, r, c):
        return f"Y{ACC + r * self.C + c}"

    def fma(self, c, reg, v):
        """Accumulates the decoded 8-group in reg, values v.., of row c (or,
        for a decoder, stores it at y[v:])."""
        if self.store:
            emit(f"\tVMOVUPS {reg}, {4 * v}(DI)")
        for r in range(self.R):
            emit(f"\tVFMADD231PS {X(r, 4 * v)}, {reg}, {self.acc(r, c)}")


def half(c, off, reg):
    emit(f"\tVPBROADCASTW {W(c, off)}, X{reg}")
    emit(f"\tVCVTPH2PS X{reg}, Y{reg}")


def q8_0(k, c):
    half(c, 0, 11)
    for g in range(4):
        emit(f"\tVPMOVSXBD {W(c, 2 + 8 * g)}, Y0")
        emit("\tVCVTDQ2PS Y0, Y0")
        emit("\tVMULPS Y11, Y0, Y0")
        k.fma(c, "Y0", 8 * g)


def q4_0(k, c):
    half(c, 0, 11)
    # low nibbles of bytes 0..15 are values 0..15, high ones 16..31; the
    # widened bytes stay in Y1, Y2 between the two
    for v in range(0, 32, 8):
        raw = f"Y{1 + v % 16 // 8}"
        if v < 16:
            emit(f"\tVPMOVZXBD {W(c, 2 + v)}, {raw}")
            emit(f"\tVPAND Y10, {raw}, Y0")
        else:
            emit(f"\tVPSRLD $4, {raw}, Y0")
        emit("\tVPSUBD Y9, Y0, Y0")
        emit("\tVCVTDQ2PS Y0, Y0")
        emit("\tVMULPS Y11, Y0, Y0")
        k.fma(c, "Y0", v)


def k45_scales(c):
    """d·sc_j and dmin·m_j of row c's superblock into the frame at 64c
    (ggml's get_scale_min_k4 and its float32 products); Y10 = 0x0F, Y9 = 63."""
    emit(f"\tVPMOVZXBD {W(c, 4)}, X0")
    emit(f"\tVPMOVZXBD {W(c, 8)}, X1")
    emit(f"\tVPMOVZXBD {W(c, 12)}, X2")
    emit("\tVPAND X9, X0, X3")
    emit("\tVPAND X10, X2, X4")
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
    half(c, 0, 11)
    emit("\tVMULPS Y11, Y3, Y3")
    half(c, 2, 11)
    emit("\tVMULPS Y11, Y6, Y6")
    emit(f"\tVMOVUPS Y3, {64 * c}(SP)")
    emit(f"\tVMOVUPS Y6, {64 * c + 32}(SP)")


def k45_sub(c, j):
    """Broadcasts sub-block j's scale into Y4 and minimum into Y5."""
    emit(f"\tVBROADCASTSS {64 * c + 4 * j}(SP), Y4")
    emit(f"\tVBROADCASTSS {64 * c + 32 + 4 * j}(SP), Y5")


def q4_k(k, c):
    # 144 bytes: d, dmin, 12 bytes of scales, qs at 16. Chunk ch of 32 qs
    # bytes: low nibbles are sub-block 2ch, high ones 2ch+1; the widened
    # bytes stay in Y0-Y3 between the two.
    k45_scales(c)
    for j in range(8):
        k45_sub(c, j)
        ch = j // 2
        for g in range(4):
            if j % 2 == 0:
                emit(f"\tVPMOVZXBD {W(c, 16 + 32 * ch + 8 * g)}, Y{g}")
                emit(f"\tVPAND Y10, Y{g}, Y6")
            else:
                emit(f"\tVPSRLD $4, Y{g}, Y6")
            emit("\tVCVTDQ2PS Y6, Y6")
            emit("\tVMULPS Y4, Y6, Y6")
            emit("\tVSUBPS Y5, Y6, Y6")
            k.fma(c, "Y6", 32 * j + 8 * g)


def widen8(src, k, c, v, scale, sign, post=None):
    """Widens the 32 bytes in Y{src} to four 8-groups, converts, scales
    (and subtracts Y5 when post) and accumulates them as values v..v+31."""
    ext = "VPMOVSXBD" if sign else "VPMOVZXBD"
    for g in range(4):
        if g == 1:
            emit(f"\tVPSRLDQ $8, X{src}, X1")
        elif g == 2:
            emit(f"\tVEXTRACTI128 $1, Y{src}, X{src}")
        elif g == 3:
            emit(f"\tVPSRLDQ $8, X{src}, X{src}")
        emit(f"\t{ext} {'X1' if g == 1 else f'X{src}'}, Y2")
        emit("\tVCVTDQ2PS Y2, Y2")
        emit(f"\tVMULPS {scale(g)}, Y2, Y2")
        if post:
            emit(f"\tVSUBPS {post(g)}, Y2, Y2")
        k.fma(c, "Y2", v + 8 * g)


def q5_k(k, c):
    # 176 bytes: as Q4_K with qh at 16 (bit j of qh[l] adds 16 to value l of
    # sub-block j) and qs at 48. Each sub-block's 32 quants are made as
    # bytes, then widened. Y10 = 0x0F bytes, Y8 = 0x10 bytes.
    k45_scales(c)
    for j in range(8):
        k45_sub(c, j)
        emit(f"\tVMOVDQU {W(c, 48 + 32 * (j // 2))}, Y0")
        emit(f"\tVMOVDQU {W(c, 16)}, Y3")
        if j % 2:
            emit("\tVPSRLW $4, Y0, Y0")
        emit("\tVPAND Y10, Y0, Y0")
        # bit j of each byte to bit 4: word shifts keep it within its byte
        if j < 4:
            emit(f"\tVPSLLW ${4 - j}, Y3, Y3")
        elif j > 4:
            emit(f"\tVPSRLW ${j - 4}, Y3, Y3")
        emit("\tVPAND Y8, Y3, Y3")
        emit("\tVPOR Y3, Y0, Y0")
        widen8(0, k, c, 32 * j, lambda g: "Y4", False, lambda g: "Y5")


def q6_k(k, c):
    # 210 bytes: ql[128], qh[64], int8 scales[16], d. Half n (128 values)
    # reads ql[64n:], qh[32n:]; value l+32m (l < 32) takes 4 bits of ql and
    # 2 of qh, less 32, times d·scale[8n + l/16 + 2m]. The 32 quants of
    # each (n, m) are made as signed bytes, then widened. Y10 = 0x0F bytes,
    # Y9 = 0x30 bytes, Y8 = 0x20 bytes.
    half(c, 208, 11)
    for i in range(2):
        emit(f"\tVPMOVSXBD {W(c, 192 + 8 * i)}, Y0")
        emit("\tVCVTDQ2PS Y0, Y0")
        emit("\tVMULPS Y11, Y0, Y0")
        emit(f"\tVMOVUPS Y0, {64 * c + 32 * i}(SP)")
    for n in range(2):
        for m in range(4):
            b = 64 * c + 4 * (8 * n + 2 * m)
            emit(f"\tVBROADCASTSS {b}(SP), Y4")
            emit(f"\tVBROADCASTSS {b + 4}(SP), Y5")
            emit(f"\tVMOVDQU {W(c, 64 * n + 32 * (m % 2))}, Y0")
            emit(f"\tVMOVDQU {W(c, 128 + 32 * n)}, Y3")
            if m >= 2:
                emit("\tVPSRLW $4, Y0, Y0")
            emit("\tVPAND Y10, Y0, Y0")
            shift = [4, 2, 0, -2][m]
            if shift > 0:
                emit(f"\tVPSLLW ${shift}, Y3, Y3")
            elif shift < 0:
                emit(f"\tVPSRLW ${-shift}, Y3, Y3")
            emit("\tVPAND Y9, Y3, Y3")
            emit("\tVPOR Y3, Y0, Y0")
            emit("\tVPSUBB Y8, Y0, Y0")
            widen8(0, k, c, 128 * n + 32 * m, lambda g: "Y4" if g < 2 else "Y5", True)


def q4_1(k, c):
    # 20 bytes: d, m, 16 bytes of nibbles; y = (q·d) + m, two roundings.
    half(c, 0, 11)
    half(c, 2, 3)
    for v in range(0, 32, 8):
        emit(f"\tVPMOVZXBD {W(c, 4 + v % 16)}, Y0")
        emit("\tVPAND Y10, Y0, Y0" if v < 16 else "\tVPSRLD $4, Y0, Y0")
        emit("\tVCVTDQ2PS Y0, Y0")
        emit("\tVMULPS Y11, Y0, Y0")
        emit("\tVADDPS Y3, Y0, Y0")
        k.fma(c, "Y0", v)


def q5(k, c, qh, qs, offset):
    """Q5_0 (offset: less 16) and Q5_1 (plus the half m at 2): bit v of the
    32-bit qh is bit 4 of value v. Y10 = 0x0F, Y9 = 16, Y8 = 0x10."""
    half(c, 0, 11)
    if not offset:
        half(c, 2, 2)
    emit(f"\tVPBROADCASTD {W(c, qh)}, Y3")
    for v in range(0, 32, 8):
        emit(f"\tVPMOVZXBD {W(c, qs + v % 16)}, Y0")
        emit("\tVPAND Y10, Y0, Y0" if v < 16 else "\tVPSRLD $4, Y0, Y0")
        emit(f"\tVPSRLVD ·qdotLanes+{4 * v}(SB), Y3, Y1")
        emit("\tVPSLLD $4, Y1, Y1")
        emit("\tVPAND Y8, Y1, Y1")
        emit("\tVPOR Y1, Y0, Y0")
        if offset:
            emit("\tVPSUBD Y9, Y0, Y0")
        emit("\tVCVTDQ2PS Y0, Y0")
        emit("\tVMULPS Y11, Y0, Y0")
        if not offset:
            emit("\tVADDPS Y2, Y0, Y0")
        k.fma(c, "Y0", v)


def q5_0(k, c):
    q5(k, c, 2, 6, True)


def q5_1(k, c):
    q5(k, c, 4, 8, False)


def q2_k(k, c):
    # 84 bytes: scales[16] (low nibble scale, high nibble min), qs[64], d,
    # dmin. Sub-block is (16 values) has d·(sc&15) and dmin·(sc>>4) (frame
    # at 128c and 128c+64); its value l is (dl·((q[l+16h]>>shift)&3)) - ml.
    # Y10 = 0x0F, Y9 = 3.
    half(c, 80, 11)
    half(c, 82, 4)
    for i in range(2):
        emit(f"\tVPMOVZXBD {W(c, 8 * i)}, Y0")
        emit("\tVPAND Y10, Y0, Y1")
        emit("\tVPSRLD $4, Y0, Y0")
        emit("\tVCVTDQ2PS Y1, Y1")
        emit("\tVCVTDQ2PS Y0, Y0")
        emit("\tVMULPS Y11, Y1, Y1")
        emit("\tVMULPS Y4, Y0, Y0")
        emit(f"\tVMOVUPS Y1, {128 * c + 32 * i}(SP)")
        emit(f"\tVMOVUPS Y0, {128 * c + 64 + 32 * i}(SP)")
    for n in range(2):
        for j in range(4):
            for h in range(2):
                sb = 8 * n + 2 * j + h
                emit(f"\tVBROADCASTSS {128 * c + 4 * sb}(SP), Y4")
                emit(f"\tVBROADCASTSS {128 * c + 64 + 4 * sb}(SP), Y5")
                for g in range(2):
                    emit(f"\tVPMOVZXBD {W(c, 16 + 32 * n + 16 * h + 8 * g)}, Y0")
                    if j:
                        emit(f"\tVPSRLD ${2 * j}, Y0, Y0")
                    emit("\tVPAND Y9, Y0, Y0")
                    emit("\tVCVTDQ2PS Y0, Y0")
                    emit("\tVMULPS Y4, Y0, Y0")
                    emit("\tVSUBPS Y5, Y0, Y0")
                    k.fma(c, "Y0", 128 * n + 32 * j + 16 * h + 8 * g)


def q3_k(k, c):
    # 110 bytes: hmask[32], qs[64], scales[12] (sixteen 6-bit values, ggml's
    # kmask packing), d. Sub-block is has d·(scale-32) (frame at 64c); value
    # l is dl·(((q[l+16h]>>2j)&3) - 4·(bit 4n+j of hm[l+16h] clear)).
    # Y10 = 0x0F0F0F0F, Y9 = 3, Y8 = 0x03030303.
    emit(f"\tVMOVQ {W(c, 96)}, X0")                 # a0, a1
    emit(f"\tVPBROADCASTD {W(c, 104)}, X1")         # tmp
    emit("\tVPSRLVD ·qdotQ3Shifts(SB), X1, X1")     # tmp>>0, >>2, >>4, >>6
    emit("\tVPAND X8, X1, X1")
    emit("\tVPSLLD $4, X1, X1")
    emit("\tVPSRLD $4, X0, X2")
    emit("\tVPUNPCKLQDQ X2, X0, X0")                # a0, a1, a0>>4, a1>>4
    emit("\tVPAND X10, X0, X0")
    emit("\tVPOR X1, X0, X0")                       # sixteen scale bytes
    half(c, 108, 11)
    emit("\tVPSRLDQ $8, X0, X1")
    for i, x in enumerate(("X0", "X1")):
        emit(f"\tVPMOVZXBD {x}, Y2")
        emit("\tVPSUBD ·qdot32(SB), Y2, Y2")
        emit("\tVCVTDQ2PS Y2, Y2")
        emit("\tVMULPS Y11, Y2, Y2")
        emit(f"\tVMOVUPS Y2, {64 * c + 32 * i}(SP)")
    for n in range(2):
        for j in range(4):
            for h in range(2):
                sb = 8 * n + 2 * j + h
                emit(f"\tVBROADCASTSS {64 * c + 4 * sb}(SP), Y4")
                for g in range(2):
                    emit(f"\tVPMOVZXBD {W(c, 32 + 32 * n + 16 * h + 8 * g)}, Y0")
                    emit(f"\tVPMOVZXBD {W(c, 16 * h + 8 * g)}, Y1")
                    if j:
                        emit(f"\tVPSRLD ${2 * j}, Y0, Y0")
                    emit("\tVPAND Y9, Y0, Y0")
                    if 4 * n + j:
                        emit(f"\tVPSRLD ${4 * n + j}, Y1, Y1")
                    emit("\tVPANDN ·qdot1(SB), Y1, Y1")  # 1 where the bit is clear
                    emit("\tVPSLLD $2, Y1, Y1")
                    emit("\tVPSUBD Y1, Y0, Y0")
                    emit("\tVCVTDQ2PS Y0, Y0")
                    emit("\tVMULPS Y4, Y0, Y0")
                    k.fma(c, "Y0", 128 * n + 32 * j + 16 * h + 8 * g)




def const(reg, value):
    emit(f"\tMOVL ${value:#x}, AX")
    emit(f"\tVMOVD AX, X{reg}")
    emit(f"\tVPBROADCASTD X{reg}, Y{reg}")


# name, block values, block bytes, frame bytes per row, constants, body
TYPES = [
    ("Q8_0", 32, 34, 0, [], q8_0),
    ("Q4_0", 32, 18, 0, [(10, 0x0F), (9, 8)], q4_0),
    ("Q4_K", 256, 144, 64, [(10, 0x0F), (9, 63)], q4_k),
    ("Q5_K", 256, 176, 64, [(10, 0x0F0F0F0F), (9, 63), (8, 0x10101010)], q5_k),
    ("Q6_K", 256, 210, 64, [(10, 0x0F0F0F0F), (9, 0x30303030), (8, 0x20202020)], q6_k),
    ("Q4_1", 32, 20, 0, [(10, 0x0F)], q4_1),
    ("Q5_0", 32, 22, 0, [(10, 0x0F), (9, 16), (8, 0x10)], q5_0),
    ("Q5_1", 32, 24, 0, [(10, 0x0F), (9, 16), (8, 0x10)], q5_1),
    ("Q2_K", 256, 84, 128, [(10, 0x0F), (9, 3)], q2_k),
    ("Q3_K", 256, 110, 64, [(10, 0x0F0F0F0F), (9, 3), (8, 0x03030303)], q3_k),
]

# Types whose panel decoder (deq2{T}, for many rows of x) comes from the same
# bodies; the others have hand-scheduled ones in gen_dequant.py.
DEQ = ["Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K"]

ARGS = "out *float32, ldo int, x *float32, ldx int, w *byte, ldw int, nb int"


def kernel(tname, bs, bb, frame, consts, body, R, C):
    name = f"qdot{tname}x{R}x{C}"
    k = Kernel(R, C)
    emit(f"\n// func {name}({ARGS})")
    # big frames take the stack check of a normal function
    flag = "NOSPLIT" if frame * C <= 256 else "0"
    emit(f"TEXT ·{name}(SB), {flag}, ${frame * C}-56")
    emit("\tMOVQ x+16(FP), DI")
    emit("\tMOVQ ldx+24(FP), BX")
    emit("\tSHLQ $2, BX")
    emit("\tLEAQ (BX)(BX*2), R12")
    emit("\tMOVQ w+32(FP), SI")
    emit("\tMOVQ ldw+40(FP), R13")
    emit("\tLEAQ (R13)(R13*2), R14")
    emit("\tMOVQ nb+48(FP), CX")
    # R8 walks the rows the next call will read (C rows further on), so
    # that they are in cache when it starts: a decode row is a few cache
    # lines per weight row, too short for the hardware prefetchers to
    # learn, and one pass over a model's weights misses L3.
    emit(f"\tLEAQ {['(SI)(R13*1)', '(SI)(R13*2)', '', '(SI)(R13*4)'][C - 1]}, R8")
    for reg, v in consts:
        const(reg, v)
    for r in range(R):
        for c in range(C):
            a = k.acc(r, c)
            emit(f"\tVXORPS {a}, {a}, {a}")
    emit("\tTESTQ CX, CX")
    emit("\tJZ done")
    emit("loop:")
    for c in range(C):
        for off in range(0, bb, 64):
            emit(f"\tPREFETCHT0 {W(c, off).replace('SI', 'R8')}")
        body(k, c)
    emit(f"\tADDQ ${bb}, SI")
    emit(f"\tADDQ ${bb}, R8")
    emit(f"\tADDQ ${4 * bs}, DI")
    emit("\tDECQ CX")
    emit("\tJNZ loop")
    emit("done:")
    emit("\tMOVQ out+0(FP), DI")
    emit("\tMOVQ ldo+8(FP), AX")
    emit("\tSHLQ $2, AX")
    for r in range(R):
        if r > 0:
            emit("\tADDQ AX, DI")
        for c in range(C):
            a = k.acc(r, c)
            x = "X" + a[1:]
            emit(f"\tVEXTRACTF128 $1, {a}, X0")
            emit(f"\tVADDPS X0, {x}, {x}")
            emit(f"\tVHADDPS {x}, {x}, {x}")
            emit(f"\tVHADDPS {x}, {x}, {x}")
            emit(f"\tVMOVSS {x}, {4 * c}(DI)")
    emit("\tVZEROUPPER")
    emit("\tRET")


def decoder(tname, bs, bb, frame, consts, body):
    """deq2{T}(y *float32, w *byte, nb int): nb blocks decoded into y."""
    k = Kernel(0, 1, store=True)
    emit(f"\n// func deq2{tname}(y *float32, w *byte, nb int)")
    emit(f"TEXT ·deq2{tname}(SB), NOSPLIT, ${frame}-24")
    emit("\tMOVQ y+0(FP), DI")
    emit("\tMOVQ w+8(FP), SI")
    emit("\tMOVQ nb+16(FP), CX")
    for reg, v in consts:
        const(reg, v)
    emit("\tTESTQ CX, CX")
    emit("\tJZ done")
    emit("loop:")
    body(k, 0)
    emit(f"\tADDQ ${bb}, SI")
    emit(f"\tADDQ ${4 * bs}, DI")
    emit("\tDECQ CX")
    emit("\tJNZ loop")
    emit("done:")
    emit("\tVZEROUPPER")
    emit("\tRET")


emit("")
for i in range(32):
    emit(f"DATA ·qdotLanes+{4 * i}(SB)/4, ${i}")
emit("GLOBL ·qdotLanes(SB), RODATA|NOPTR, $128")
for i, v in enumerate((0, 2, 4, 6)):
    emit(f"DATA ·qdotQ3Shifts+{4 * i}(SB)/4, ${v}")
emit("GLOBL ·qdotQ3Shifts(SB), RODATA|NOPTR, $16")
for name, v in (("qdot32", 32), ("qdot1", 1)):
    for i in range(8):
        emit(f"DATA ·{name}+{4 * i}(SB)/4, ${v}")
    emit(f"GLOBL ·{name}(SB), RODATA|NOPTR, $32")

for t in TYPES:
    for R, C in SHAPES:
        kernel(*t, R, C)
    if t[0] in DEQ:
        decoder(*t)

# CPUID leaf 1, ECX bit 29 (x/sys/cpu does not report F16C).
emit("\n// func hasF16C() bool")
emit("TEXT ·hasF16C(SB), NOSPLIT, $0-1")
emit("\tMOVL $1, AX")
emit("\tXORL CX, CX")
emit("\tCPUID")
emit("\tSHRL $29, CX")
emit("\tANDL $1, CX")
emit("\tMOVB CX, ret+0(FP)")
emit("\tRET")

hdr = "//go:build goexperiment.simd && amd64\n\n// Code generated by gen_dotq.py; DO NOT EDIT.\n\n"
with open("dotq_amd64.s", "w") as f:
    f.write(hdr + '#include "textflag.h"\n' + "\n".join(out) + "\n")

go = [hdr + "package kernel\n", 'import "github.com/graft-ai/graft/engine/gguf"\n']
for t in TYPES:
    for R, C in SHAPES:
        go.append(f"//go:noescape\nfunc qdot{t[0]}x{R}x{C}({ARGS})\n")
go.append("func hasF16C() bool\n")
for t in DEQ:
    go.append(f"//go:noescape\nfunc deq2{t}(y *float32, w *byte, nb int)\n")
go.append("// deq2AVX2 are the panel decoders made from the fused kernels' bodies.")
go.append("var deq2AVX2 = map[gguf.Type]func(y *float32, w *byte, nb int){")
for t in DEQ:
    go.append(f"\tgguf.Type{t}: deq2{t},")
go.append("}\n")
go.append("// qdotAVX2 holds, per type, the kernels of the shapes " + " ".join(f"{R}×{C}" for R, C in SHAPES) + ".")
go.append("var qdotAVX2 = map[gguf.Type]*qdotSet{")
assert SHAPES == [(1, 4), (1, 1), (2, 2), (2, 1), (3, 1), (4, 1)]  # qdotSet's order
for t in TYPES:
    fns = ", ".join(f"qdot{t[0]}x{R}x{C}" for R, C in SHAPES)
    go.append(f"\tgguf.Type{t[0]}: {{{fns}}},")
go.append("}\n")
with open("dotq_amd64.go", "w") as f:
    f.write("\n".join(go).rstrip("\n") + "\n")
