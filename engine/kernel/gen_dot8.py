#!/usr/bin/env python3
"""Writes dot8_amd64.s and dot8_amd64.go: AVX2 integer dots of 32-value
weight blocks (Q4_0, Q8_0) with Q8_0 activation blocks (dot8.go).

A kernel dot8{T}x{R}x{C} computes the R×C dots of R activation rows with C
weight rows, nb blocks each: R·C ≤ 4 for a lone row (accumulators Y12-Y15,
constants in registers), R·C ≤ 8 for more rows (accumulators up to Y8-Y15,
constants as memory operands). Per block and
pair it follows dot8.go's reference exactly: signed weights w and
activations x meet in ggml's sign trick (VPSIGNB moves w's sign onto x,
VPMADDUBSW multiplies |w| by it, VPMADDWD sums pairs), which gives the
exact int32 sum of products 4l..4l+3 in lane l; the lanes go to float32
and are added times d_w·d_x (halves widened with VCVTPH2PS) to the
accumulator with one FMA; at the end the lanes are summed as
((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)). Nothing saturates: |w| ≤ 128 and the
quantizer keeps |x| ≤ 127.

A lone activation row meets Q5_0 values unsigned instead: VPMADDUBSW of
the raw values with x, minus 16·Σx per lane (once per block for all
columns): the same exact integers with fewer operations.

Q4_0 sums each block whole (dot8.go): its lone-row kernels (lone_total,
lone_total8) and batched tiles (tkernel, quad("t")) fold the block sums
of four or eight outputs into one vector, converted and scaled together;
it has no sign-trick tiles of several rows (its rows above the batched
path's limit take the lone-row kernel a row at a time).

Scales: per block the tile's halves are gathered with scalar loads into one
VCVTPH2PS per side, and the products d_w·d_x go to the frame, from where
each pair broadcasts its own (a load, no vector shuffle).

Registers: Y0 signed weights, Y1 their magnitudes (or raw nibbles), Y2 and
Y4 the weight and activation scales, Y3 x, Y5 Y6 scratch, Y7 8·Σx, Y8 the
nibble shifts, Y9 bytes 8, Y10 bytes 0x0F, Y11 words 1 (a lone row). Tiles
of several rows keep the words 1 in Y7 and load each activation row and
unpack each weight column once per block (pairsR): the only constant kept
in a register is the one every pair reads.

q8Row and q8Row1 are the AVX2 Q8_0 and Q8_1 activation quantizers
(dot8_avx2_amd64.go, dot81_amd64.go).
"""

from asmtile import W, X, fifth_bits, lane_sum8, tile_args

SHAPES = [(1, 1), (1, 2), (1, 3), (1, 4), (2, 1), (2, 2), (2, 3), (2, 4), (3, 1), (3, 2), (4, 1), (4, 2)]

# The constants' operands: registers for a lone row, memory for tiles of
# several rows, whose up to 8 accumulators take Y8-Y15.
K = {}


def consts(in_regs):
    if in_regs:
        K.update(ones="Y11", nib="Y10", eight="Y9", shifts="Y8")
    else:
        K.update(ones="·dot8Ones(SB)", nib="·dot8Nib(SB)", eight="·dot8Eight(SB)", shifts="·dot8Shifts(SB)")
ABB = 34  # activation block bytes

out = []
emit = out.append


def q8_0(c, s="Y0", a="Y1"):
    emit(f"\tVMOVDQU {W(c, 2)}, {s}")
    emit(f"\tVPABSB {s}, {a}")


def q4_0(c, s="Y0", a="Y1", unsigned=False):
    # low nibbles are values 0..15, high ones 16..31, each minus 8: the 16
    # bytes in both halves, the high half shifted right by 4 (VPSRLVD by Y8 =
    # 0,0,0,0,4,4,4,4), masked; a lone
    # activation row takes the nibbles as they are (Y1) and subtracts 8·Σx
    # per lane (Y7), computed once per block for all columns
    emit(f"\tVBROADCASTI128 {W(c, 2)}, {a}")
    emit(f"\tVPSRLVD {K['shifts']}, {a}, {a}")
    emit(f"\tVPAND {K['nib']}, {a}, {a}")
    if not unsigned:
        emit(f"\tVPSUBB {K['eight']}, {a}, {s}")
        emit(f"\tVPABSB {s}, {a}")


def q5_0(c, s="Y0", a="Y1", unsigned=False):
    # Q4_0's nibbles (at byte 6) with bit j of qh (byte 2) as bit 4 of value
    # j (fifth_bits), then minus 16
    emit(f"\tVBROADCASTI128 {W(c, 6)}, {a}")
    emit(f"\tVPSRLVD {K['shifts']}, {a}, {a}")
    emit(f"\tVPAND {K['nib']}, {a}, {a}")
    fifth_bits(emit, W(c, 2), "Y5", a)
    if not unsigned:
        emit(f"\tVPSUBB ·dot8Sixteen(SB), {a}, {s}")
        emit(f"\tVPABSB {s}, {a}")


def load_x(r):
    emit(f"\tVMOVDQU {X(r, 2)}, Y3")
    emit(f"\tVPBROADCASTW {X(r, 0)}, X4")
    emit("\tVCVTPH2PS X4, Y4")


def pair(acc, unsigned=False, dmem=None, s="Y0", a="Y1", x="Y3", dreg=None):
    if unsigned:
        emit("\tVPMADDUBSW Y3, Y1, Y5")
        emit(f"\tVPMADDWD {K['ones']}, Y5, Y5")
        emit("\tVPSUBD Y7, Y5, Y5")
    else:
        emit(f"\tVPSIGNB {s}, {x}, Y5")
        emit(f"\tVPMADDUBSW Y5, {a}, Y5")
        emit(f"\tVPMADDWD {K['ones']}, Y5, Y5")
    emit("\tVCVTDQ2PS Y5, Y5")
    if dreg is not None:
        emit(f"\tVPERMILPS ${dreg:#x}, Y2, Y6")
    elif dmem:
        emit(f"\tVBROADCASTSS {dmem}, Y6")
    else:
        emit("\tVMULPS Y4, Y2, Y6")
    emit(f"\tVFMADD231PS Y6, Y5, {acc}")


def two_a_turn(sfx, turn):
    """Loops over CX blocks two a turn, an odd block first: turn(n) emits n
    blocks and the pointer advance past them. Labels end in sfx."""
    emit("\tBTQ $0, CX")
    emit(f"\tJCC pairs{sfx}")
    turn(1)
    emit(f"pairs{sfx}:")
    emit("\tSHRQ $1, CX")
    emit(f"\tJZ done{sfx}")
    emit(f"loop{sfx}:")
    turn(2)
    emit("\tDECQ CX")
    emit(f"\tJNZ loop{sfx}")


def lone_total(C, strided=False):
    """dot8Q4_0x1x{C}: Q4_0's lone-row kernels, each output the float sum
    over blocks of its block's whole integer dot (dot8.go's dotQ4_0Q8_0).
    Four slots, slot s column min(s, C-1), in pairs (0, 2) and (1, 3): a
    pair's two columns share one register (column a's 16 nibble bytes in
    the low half, b's in the high), unpacked once (low nibbles by a mask,
    high ones shifted and masked) against x's values 0..15 and 16..31
    broadcast to both halves; VPMADDUBSW of each, added (sums of four
    products n·x, at most 7620), less 8·Σx of the same four (Y7, once per
    block): words of at most 4064. One VPHADDW sums the two pairs' words in
    pairs into [s0 s1 | s2 s3] order, VPMADDWD widens them to int32, and
    VPACKSSDW and VPMADDWD fold them once more (sums of 32 products, at most
    32512, exact) into lanes [s0 s1 s2 s3]: one VCVTDQ2PS and one FMA a
    block with d_w·d_x in the same lanes. The per-lane contract took, per
    column and block, a subtraction, a conversion, a spread of the scale
    and an FMA of its own: the kernel was bound by the FP pipes, not by
    memory (15 GB/s on one Zen 3 thread, from L2 as from memory)."""
    name = f"dot8Q4_0x1x{C}" + ("s" if strided else "")
    bb = 18
    col = lambda sl: min(sl, C - 1)
    emit(f"\n// func {name}({ARGS})")
    emit(f"TEXT ·{name}(SB), NOSPLIT, $0-56")
    emit("\tMOVQ xq+16(FP), DI")
    emit("\tMOVQ w+32(FP), SI")
    emit("\tMOVQ ldw+40(FP), R13")
    emit("\tLEAQ (R13)(R13*2), R14")
    emit("\tMOVQ nb+48(FP), CX")
    if strided:
        emit(f"\tIMUL3Q ${bb * PF_ROWS}, CX, R8")
        emit("\tADDQ SI, R8")
    else:
        prefetch_start()
    const(11, 1, "W")
    const(10, 0x0F, "B")
    const(9, 8, "B")
    emit("\tVXORPS Y12, Y12, Y12")

    def block(u):
        xo, wo = ABB * u, bb * u
        emit(f"\tVBROADCASTI128 {2 + xo}(DI), Y3")
        emit(f"\tVBROADCASTI128 {18 + xo}(DI), Y4")
        emit("\tVPMADDUBSW Y3, Y9, Y7")
        emit("\tVPMADDUBSW Y4, Y9, Y6")
        emit("\tVPADDW Y6, Y7, Y7")
        # the slots' d_w·d_x in X2: halves gathered by scalar loads (the
        # integer pipes are idle, the FP ones the bound), widened in xmm
        regs = ["AX", "DX", "R9", "R10"]
        emit(f"\tMOVWQZX {W(col(0), wo)}, AX")
        for sl in range(1, 4):
            emit(f"\tMOVWQZX {W(col(sl), wo)}, {regs[sl]}")
            emit(f"\tSHLQ ${16 * sl}, {regs[sl]}")
            emit(f"\tORQ {regs[sl]}, AX")
        emit("\tVMOVQ AX, X2")
        emit("\tVCVTPH2PS X2, X2")
        emit(f"\tVPBROADCASTW {xo}(DI), X5")
        emit("\tVCVTPH2PS X5, X5")
        emit("\tVMULPS X5, X2, X2")
        for (a, b), (r, t) in (((0, 2), ("Y0", "Y1")), ((1, 3), ("Y13", "Y14"))):
            if C == 1 and a == 1:
                break
            emit(f"\tVMOVDQU {W(col(a), 2 + wo)}, X{r[1:]}")
            emit(f"\tVINSERTI128 $1, {W(col(b), 2 + wo)}, {r}, {r}")
            emit(f"\tVPSRLW $4, {r}, {t}")
            emit(f"\tVPAND Y10, {r}, {r}")
            emit(f"\tVPAND Y10, {t}, {t}")
            emit(f"\tVPMADDUBSW Y3, {r}, {r}")
            emit(f"\tVPMADDUBSW Y4, {t}, {t}")
            emit(f"\tVPADDW {t}, {r}, {r}")
            emit(f"\tVPSUBW Y7, {r}, {r}")
        emit(f"\tVPHADDW {'Y0' if C == 1 else 'Y13'}, Y0, Y0")
        emit("\tVPMADDWD Y11, Y0, Y0")
        emit("\tVEXTRACTI128 $1, Y0, X1")
        emit("\tVPACKSSDW X1, X0, X0")
        emit("\tVPMADDWD X11, X0, X0")
        emit("\tVCVTDQ2PS X0, X0")
        emit("\tVFMADD231PS X2, X0, X12")

    def pf(n):
        # blocks are shorter than a line, so prefetching each stream once
        # per n blocks still touches every line of it
        if strided:
            for c in range(C):
                emit(f"\tPREFETCHT0 {W(c, 0).replace('SI', 'R8')}")
            emit(f"\tADDQ ${bb * n}, R8")
        else:
            prefetch(C * bb * n)

    def turn(n):
        pf(n)
        for u in range(n):
            block(u)
        emit(f"\tADDQ ${n * bb}, SI")
        emit(f"\tADDQ ${n * ABB}, DI")

    two_a_turn("", turn)
    emit("done:")
    emit("\tMOVQ out+0(FP), DI")
    emit("\tMOVQ ldo+8(FP), AX")
    emit("\tSHLQ $2, AX")
    for c in range(C):
        reg, lane = "X12", c
        if strided:
            if c > 0:
                emit("\tADDQ AX, DI")
            addr = "(DI)"
        else:
            addr = f"{4 * c}(DI)"
        emit(f"\tVEXTRACTPS ${lane}, {reg}, {addr}")
    emit("\tVZEROUPPER")
    emit("\tRET")



def lone_total8(strided=False):
    """dot8Q4_0x1x8: Q4_0's lone-row kernel of eight weight rows, rows c
    and c+4 at w + c·ldw and w + ldx + c·ldw (c < 4; ldx, which a lone row
    has no use for, is 4·ldw for eight rows in order, out[c] for row c). The
    strided kernel (streamRow8) reads four streams ldw apart, two adjacent
    rows of each a call, ldx apart: row c+4 follows row c, out[c·ldo] and
    out[c·ldo+1] take them. lone_total's pairs, four of them, folded into
    lanes [s0 s1 s4 s5 | s2 s3 s6 s7] with one conversion and one FMA a
    block. The per-block costs that do not depend on the columns (x's
    offset 8·Σx, widening d_x, the loop) were a third of the FP pipes' work
    at four columns: at eight they weigh half as much per byte."""
    name = "dot8Q4_0x1x8" + ("s" if strided else "")
    bb = 18
    emit(f"\n// func {name}({ARGS})")
    emit(f"TEXT ·{name}(SB), NOSPLIT, $0-56")
    emit("\tMOVQ xq+16(FP), DI")
    emit("\tMOVQ w+32(FP), SI")
    emit("\tMOVQ ldw+40(FP), R13")
    emit("\tLEAQ (R13)(R13*2), R14")
    emit("\tMOVQ ldx+24(FP), R11")
    emit("\tADDQ SI, R11")
    emit("\tMOVQ nb+48(FP), CX")
    if strided:
        # R8 walks each stream PF_ROWS rows on, two rows a call
        emit(f"\tIMUL3Q ${bb * PF_ROWS}, CX, R8")
        emit("\tADDQ SI, R8")
    else:
        prefetch_start()
    const(11, 1, "W")
    const(10, 0x0F, "B")
    const(9, 8, "B")
    emit("\tVXORPS Y12, Y12, Y12")
    w8 = lambda c, off: W(c, off) if c < 4 else W(c - 4, off).replace("SI", "R11")
    emit("\tTESTQ CX, CX")
    emit("\tJZ done")
    emit("loop:")
    emit("\tVBROADCASTI128 2(DI), Y3")
    emit("\tVBROADCASTI128 18(DI), Y4")
    emit("\tVPMADDUBSW Y3, Y9, Y7")
    emit("\tVPMADDUBSW Y4, Y9, Y6")
    emit("\tVPADDW Y6, Y7, Y7")
    # d_w as halves [h0 h1 h4 h5 h2 h3 h6 h7], by scalar loads (the integer
    # pipes are idle, the FP ones the bound)
    for dst, tmp, cols in (("AX", "DX", (0, 1, 4, 5)), ("R9", "R10", (2, 3, 6, 7))):
        emit(f"\tMOVWQZX {w8(cols[0], 0)}, {dst}")
        for i, c in enumerate(cols[1:], 1):
            emit(f"\tMOVWQZX {w8(c, 0)}, {tmp}")
            emit(f"\tSHLQ ${16 * i}, {tmp}")
            emit(f"\tORQ {tmp}, {dst}")
    emit("\tVMOVQ AX, X2")
    emit("\tVPINSRQ $1, R9, X2, X2")
    emit("\tVCVTPH2PS X2, Y2")
    emit("\tVPBROADCASTW 0(DI), X5")
    emit("\tVCVTPH2PS X5, Y5")
    emit("\tVMULPS Y5, Y2, Y2")
    if strided:
        for c in range(4):
            emit(f"\tPREFETCHT0 {W(c, 0).replace('SI', 'R8')}")
        emit(f"\tADDQ ${2 * bb}, R8")
    else:
        prefetch(8 * bb)

    def pair(a, b, r, t):
        emit(f"\tVMOVDQU {w8(a, 2)}, X{r[1:]}")
        emit(f"\tVINSERTI128 $1, {w8(b, 2)}, {r}, {r}")
        emit(f"\tVPSRLW $4, {r}, {t}")
        emit(f"\tVPAND Y10, {r}, {r}")
        emit(f"\tVPAND Y10, {t}, {t}")
        emit(f"\tVPMADDUBSW Y3, {r}, {r}")
        emit(f"\tVPMADDUBSW Y4, {t}, {t}")
        emit(f"\tVPADDW {t}, {r}, {r}")
        emit(f"\tVPSUBW Y7, {r}, {r}")

    pair(0, 2, "Y0", "Y1")
    pair(1, 3, "Y13", "Y14")
    emit("\tVPHADDW Y13, Y0, Y0")
    emit("\tVPMADDWD Y11, Y0, Y0")
    pair(4, 6, "Y13", "Y14")
    pair(5, 7, "Y15", "Y14")
    emit("\tVPHADDW Y15, Y13, Y13")
    emit("\tVPMADDWD Y11, Y13, Y13")
    emit("\tVPACKSSDW Y13, Y0, Y0")
    emit("\tVPMADDWD Y11, Y0, Y0")
    emit("\tVCVTDQ2PS Y0, Y0")
    emit("\tVFMADD231PS Y2, Y0, Y12")
    emit(f"\tADDQ ${bb}, SI")
    emit(f"\tADDQ ${bb}, R11")
    emit(f"\tADDQ ${ABB}, DI")
    emit("\tDECQ CX")
    emit("\tJNZ loop")
    emit("done:")
    emit("\tMOVQ out+0(FP), DI")
    emit("\tMOVQ ldo+8(FP), AX")
    emit("\tSHLQ $2, AX")
    emit("\tVEXTRACTF128 $1, Y12, X13")
    lane = {0: ("X12", 0), 1: ("X12", 1), 4: ("X12", 2), 5: ("X12", 3),
            2: ("X13", 0), 3: ("X13", 1), 6: ("X13", 2), 7: ("X13", 3)}
    for c in (0, 4, 1, 5, 2, 6, 3, 7):
        reg, i = lane[c]
        if strided:
            if c in (1, 2, 3):
                emit("\tADDQ AX, DI")
            addr = "(DI)" if c < 4 else "4(DI)"
        else:
            addr = f"{4 * c}(DI)"
        emit(f"\tVEXTRACTPS ${i}, {reg}, {addr}")
    emit("\tVZEROUPPER")
    emit("\tRET")


def const(reg, value, bcast="D"):
    emit(f"\tMOVL ${value:#x}, AX")
    emit(f"\tVMOVD AX, X{reg}")
    emit(f"\tVPBROADCAST{bcast} X{reg}, Y{reg}")


# name, weight block bytes, unpacking body
TYPES = [("Q8_0", 34, q8_0), ("Q4_0", 18, q4_0), ("Q5_0", 22, q5_0)]

# The offset a lone row's unsigned values carry (8·Σx or 16·Σx is
# subtracted), by type.
OFFSET = {"Q4_0": "Y9", "Q5_0": "·dot8Sixteen(SB)"}

ARGS = "out *float32, ldo int, xq *byte, ldx int, w *byte, ldw int, nb int"
SARGS = ARGS + ", dp *float32"


def scales1(C):
    """A lone activation row: the C weight scales of this block gathered by
    scalar loads into one VCVTPH2PS, times d_x, in both halves of Y2, from
    where each column spreads its d_w·d_x over the lanes with one in-lane
    VPERMILPS. Stored to the frame and broadcast back instead, each 4-byte
    load waited for the 16-byte store in flight (no forwarding on Zen 3,
    see products): the lone-row kernels took as long per block on Q4_0 as on
    Q8_0, from L2 as from memory."""
    regs = ["AX", "DX", "R9", "R10"]
    for c in range(C):
        emit(f"\tMOVWQZX {W(c, 0)}, {regs[c]}")
    for c in range(1, C):
        emit(f"\tSHLQ ${16 * c}, {regs[c]}")
        emit(f"\tORQ {regs[c]}, AX")
    emit("\tVMOVQ AX, X2")
    emit("\tVPBROADCASTQ X2, X2")
    emit("\tVCVTPH2PS X2, Y2")
    emit("\tVMULPS Y4, Y2, Y2")


def scalesR(R, C):
    """Several activation rows: the R activation scales and the C weight
    scales of this block, each set gathered by scalar loads into one
    VCVTPH2PS; d_w·d_x of pair (r, c) goes to the frame at 16c+4r."""
    regs = ["AX", "DX", "R9", "R10"]
    for addr, n, xr in ((X, R, "X4"), (W, C, "X2")):
        for i in range(n):
            emit(f"\tMOVWQZX {addr(i, 0)}, {regs[i]}")
        for i in range(1, n):
            emit(f"\tSHLQ ${16 * i}, {regs[i]}")
            emit(f"\tORQ {regs[i]}, AX")
        emit(f"\tVMOVQ AX, {xr}")
        emit(f"\tVCVTPH2PS {xr}, {xr}")
    for c in range(C):
        emit(f"\tVPERMILPS ${0x55 * c:#x}, X2, X6")
        emit("\tVMULPS X6, X4, X6")
        emit(f"\tVMOVUPS X6, {16 * c}(SP)")


def products():
    """dot8Products forms the d_w·d_x of a 4×4 tile for the batched kernels
    (dot8s*, dot8u*), per block 16 float32 at dst[16b+4c+r] from the four
    rows' d_x at xd[4b..] and the four columns' d_w at wd[4b..]: the same
    float32 product as scalesR's. A pass of its own, before the tile's
    kernels: formed inside the kernel loop and stored to its frame, a 4-byte
    broadcast load of a product inside a 16-byte store still in flight did
    not forward on this core (AMD Zen 3) and waited for the store, even one
    block ahead: the pass made the 4x2 kernel about 15% faster."""
    emit("\n// func dot8Products(dst, xd, wd *float32, nb int)")
    emit("TEXT ·dot8Products(SB), NOSPLIT, $0-32")
    emit("\tMOVQ dst+0(FP), DI")
    emit("\tMOVQ xd+8(FP), R9")
    emit("\tMOVQ wd+16(FP), R10")
    emit("\tMOVQ nb+24(FP), CX")
    products_loop("")
    emit("pdone:")
    emit("\tVZEROUPPER")
    emit("\tRET")


def products_loop(sfx):
    """dot8Products' loop (DI: dst, R9: xd, R10: wd, CX: nb; Y4-Y9)."""
    emit("\tTESTQ CX, CX")
    emit(f"\tJZ pdone{sfx}")
    # Y8, Y9: the lane indices that spread d_w of columns 0,1 and 2,3 over
    # four lanes each, beside the four d_x in both halves
    emit("\tVMOVDQU ·dot8PermLo(SB), Y8")
    emit("\tVMOVDQU ·dot8PermHi(SB), Y9")
    emit(f"ploop{sfx}:")
    emit("\tVBROADCASTF128 (R9), Y4")
    emit("\tVBROADCASTF128 (R10), Y5")
    emit("\tVPERMPS Y5, Y8, Y6")
    emit("\tVPERMPS Y5, Y9, Y7")
    emit("\tVMULPS Y6, Y4, Y6")
    emit("\tVMULPS Y7, Y4, Y7")
    emit("\tVMOVUPS Y6, (DI)")
    emit("\tVMOVUPS Y7, 32(DI)")
    emit("\tADDQ $16, R9")
    emit("\tADDQ $16, R10")
    emit("\tADDQ $64, DI")
    emit("\tDECQ CX")
    emit(f"\tJNZ ploop{sfx}")


def pairsR(body, R, C, acc, scaled):
    """The pairs of a tile of several rows, each activation row loaded and
    each weight column unpacked once per block: the rows stay in registers
    while the columns pass (x_held), or, where the accumulators leave too few
    registers for that (4×2), the unpacked columns stay while the rows pass.
    Y5 Y6 are the pairs' scratch, Y7 the words 1."""
    dmem = lambda r, c: f"{16 * c + 4 * r}({'R9' if scaled else 'SP'})"
    if R + 5 + R * C <= 16:
        xs = ["Y2", "Y3", "Y4", "Y8"][:R]
        assert int(xs[-1][1:]) < 16 - R * C
        for r in range(R):
            emit(f"\tVMOVDQU {X(r, 2)}, {xs[r]}")
        for c in range(C):
            body(c)
            for r in range(R):
                pair(acc(r, c), dmem=dmem(r, c), x=xs[r])
        return
    ws = [("Y0", "Y1"), ("Y2", "Y4")]
    assert C <= len(ws) and 2 * C + 4 + R * C <= 16
    for c in range(C):
        body(c, *ws[c])
    for r in range(R):
        emit(f"\tVMOVDQU {X(r, 2)}, Y3")
        for c in range(C):
            pair(acc(r, c), dmem=dmem(r, c), s=ws[c][0], a=ws[c][1])


# How far ahead of the weights it reads a kernel prefetches: a tile's C
# weight rows lie one after the other in memory, and so do the tiles of a
# thread's chunk, so the bytes ahead of its current block in row C-1 are
# what it (or its next call) reads next.
PF_DIST = 4096

# The strided 1×4 kernels (dot8{T}x1x4s, streamRow.row) read four streams,
# each a quarter of a thread's rows in order; each prefetches PF_ROWS rows
# ahead in its own stream.
PF_ROWS = 2


def prefetch_start():
    """R8 walks the weight bytes PF_DIST past the tile's start."""
    emit(f"\tLEAQ {PF_DIST}(SI), R8")


def prefetch(n):
    """Prefetches the next n bytes at R8, where n is what the tile reads per
    block (C rows of bb bytes), and advances R8 by them: over the tile's nb
    blocks R8 walks C·nb·bb bytes, its own length, so it stays PF_DIST
    ahead of the tile's reads taken as one stream. Prefetching each row's
    block of the next tile instead (C scattered lines a block, one tile
    ahead) left the 1x4 Q8_0 kernel streaming 114 MB at 51-64% of a plain
    read of the same bytes on one thread (BenchmarkDot8Stream), and this
    at the read's speed: rows of 24 blocks are too short for the hardware
    prefetchers to learn. The distance: 4 KiB and 8 KiB did alike in the
    decode step, 1-2 KiB worse."""
    for i in range((n + 63) // 64):
        emit(f"\tPREFETCHT0 {64 * i}(R8)")
    emit(f"\tADDQ ${n}, R8")


def kernel(tname, bb, body, R, C, scaled=False, strided=False):
    name = f"dot8{'s' if scaled else ''}{tname}x{R}x{C}" + ("s" if strided else "")
    acc = lambda r, c: f"Y{16 - R * C + r * C + c}"
    consts(R == 1)
    if R > 1:
        K["ones"] = "Y7"
    emit(f"\n// func {name}({SARGS if scaled else ARGS})")
    emit(f"TEXT ·{name}(SB), NOSPLIT, ${0 if R == 1 else (0 if scaled else 16) * C}-{64 if scaled else 56}")
    if scaled:
        emit("\tMOVQ dp+56(FP), R9")
    tile_args(emit)
    if strided:
        # R8 walks the block PF_ROWS rows further on in each stream, which
        # the call PF_ROWS later reads
        emit(f"\tIMUL3Q ${bb * PF_ROWS}, CX, R8")
        emit("\tADDQ SI, R8")
    elif not scaled:
        prefetch_start()
    if R == 1:
        const(11, 1, "W")
        const(10, 0x0F, "B")
        const(9, 8, "B")
        if body in (q4_0, q5_0):
            emit("\tVMOVDQU ·dot8Shifts(SB), Y8")
    else:
        emit("\tVMOVDQU ·dot8Ones(SB), Y7")
    for r in range(R):
        for c in range(C):
            emit(f"\tVXORPS {acc(r, c)}, {acc(r, c)}, {acc(r, c)}")
    emit("\tTESTQ CX, CX")
    emit("\tJZ done")
    emit("loop:")
    unsigned = R == 1 and tname in OFFSET
    if R == 1:
        load_x(0)
        scales1(C)
    elif not scaled:
        scalesR(R, C)
    if unsigned:
        emit(f"\tVMOVDQU {OFFSET[tname]}, Y7")
        emit("\tVPMADDUBSW Y3, Y7, Y7")
        emit("\tVPMADDWD Y11, Y7, Y7")
    if strided:
        # one line a block and stream: blocks are shorter than a line, so
        # every line of the stream is touched
        for c in range(C):
            emit(f"\tPREFETCHT0 {W(c, 0).replace('SI', 'R8')}")
        emit(f"\tADDQ ${bb}, R8")
    elif not scaled:
        prefetch(C * bb)
    if R > 1:
        pairsR(body, R, C, acc, scaled)
    for c in range(C if R == 1 else 0):
        if unsigned:
            body(c, unsigned=True)
        else:
            body(c)
        pair(acc(0, c), unsigned, dreg=0x55 * c)
    emit(f"\tADDQ ${bb}, SI")
    emit(f"\tADDQ ${ABB}, DI")
    if scaled:
        emit("\tADDQ $64, R9")
    emit("\tDECQ CX")
    emit("\tJNZ loop")
    reduce_store(R, C, acc, strided)


def reduce_store(R, C, acc, strided=False):
    """The kernels' end: each accumulator's lanes summed in dot8.go's order
    into out[r*ldo+c] (strided: a lone row's column c to out[c*ldo])."""
    emit("done:")
    emit("\tMOVQ out+0(FP), DI")
    emit("\tMOVQ ldo+8(FP), AX")
    emit("\tSHLQ $2, AX")
    store_acc(R, C, acc, strided)
    emit("\tVZEROUPPER")
    emit("\tRET")


def store_acc(R, C, acc, strided=False):
    """Sums each accumulator's lanes and stores it to out[r*ldo+c] (DI: out,
    AX: 4·ldo; DI is advanced by the rows; strided, R = 1: out[c*ldo])."""
    for r in range(R):
        if r > 0:
            emit("\tADDQ AX, DI")
        for c in range(C):
            lane_sum8(emit, acc(r, c)[1:], 5, 6)
            if strided:
                if c > 0:
                    emit("\tADDQ AX, DI")
                emit("\tVMOVSS X5, (DI)")
            else:
                emit(f"\tVMOVSS X5, {4 * c}(DI)")


for t in TYPES:
    for R, C in SHAPES:
        if t[0] != "Q4_0":
            kernel(*t, R, C)
        elif R == 1:
            lone_total(C)
    if t[0] != "Q4_0":
        kernel(*t, 1, 4, strided=True)
    else:
        lone_total(4, strided=True)
        lone_total8()
        lone_total8(strided=True)

# The batched kernels, with float32 scales: Q8_0 weights in place (dot8s*),
# Q4_0 and Q5_0 unpacked once per column tile (dot8Unpack*, dot8u*).
SSHAPES = [(R, C) for R, C in SHAPES if R > 1]
for R, C in SSHAPES:
    kernel(*TYPES[0], R, C, scaled=True)


def half_scales():
    """dot8HalfScales widens the d of block b of four weight rows (at w0..w3,
    bb bytes a block) to float32 at dst[4b..4b+3]."""
    emit("\n// func dot8HalfScales(dst *float32, w0, w1, w2, w3 *byte, nb, bb int)")
    emit("TEXT ·dot8HalfScales(SB), NOSPLIT, $0-56")
    emit("\tMOVQ dst+0(FP), DI")
    for i, r in enumerate(["R8", "R9", "R10", "R11"]):
        emit(f"\tMOVQ w{i}+{8 + 8 * i}(FP), {r}")
    emit("\tMOVQ nb+40(FP), CX")
    emit("\tMOVQ bb+48(FP), SI")
    emit("\tTESTQ CX, CX")
    emit("\tJZ hsdone")
    emit("hsloop:")
    emit("\tMOVWQZX (R8), AX")
    for i, r in enumerate(["R9", "R10", "R11"]):
        emit(f"\tMOVWQZX ({r}), DX")
        emit(f"\tSHLQ ${16 * (i + 1)}, DX")
        emit("\tORQ DX, AX")
    emit("\tVMOVQ AX, X0")
    emit("\tVCVTPH2PS X0, X0")
    emit("\tVMOVUPS X0, (DI)")
    for r in ["R8", "R9", "R10", "R11"]:
        emit(f"\tADDQ SI, {r}")
    emit("\tADDQ $16, DI")
    emit("\tDECQ CX")
    emit("\tJNZ hsloop")
    emit("hsdone:")
    emit("\tRET")


def unpack(tname, bb, body):
    """dot8Unpack{T} rewrites nb blocks of one weight row for the unsigned
    batched kernels (dot8u*, dot8t*): per block 64 bytes, the 32 signed
    values and then, per lane l, 128·Σ of values 4l..4l+3 (what x+128 adds
    to the lane's integer): an int32 per lane for dot8u*, for Q4_0's dot8t*
    int16 words in VPHADDW's layout (lanes 0-3 twice, then 4-7 twice)."""
    emit(f"\n// func dot8Unpack{tname}(dst *byte, w *byte, nb int)")
    emit(f"TEXT ·dot8Unpack{tname}(SB), NOSPLIT, $0-24")
    emit("\tMOVQ dst+0(FP), DI")
    emit("\tMOVQ w+8(FP), SI")
    emit("\tMOVQ nb+16(FP), CX")
    consts(False)
    emit("\tTESTQ CX, CX")
    emit(f"\tJZ up{tname}done")
    emit(f"up{tname}loop:")
    body(0)
    emit("\tVMOVDQU Y0, (DI)")
    emit("\tVMOVDQU ·dot8Bias(SB), Y2")
    emit("\tVPMADDUBSW Y0, Y2, Y2")
    if tname == "Q4_0":
        emit("\tVPHADDW Y2, Y2, Y2")
    else:
        emit("\tVPMADDWD ·dot8Ones(SB), Y2, Y2")
    emit("\tVMOVDQU Y2, 32(DI)")
    emit(f"\tADDQ ${bb}, SI")
    emit("\tADDQ $64, DI")
    emit("\tDECQ CX")
    emit(f"\tJNZ up{tname}loop")
    emit(f"up{tname}done:")
    emit("\tVZEROUPPER")
    emit("\tRET")


def ukernel(R, C):
    """dot8u{R}x{C}: the batched tile of Q4_0 and Q5_0 without the sign
    trick. The activations come as x+128 (unsigned bytes, 32 a block, held
    in registers), the weights as dot8Unpack's signed values (|w| ≤ 16, so
    VPMADDUBSW cannot saturate: 2·255·16 < 2^15), read as memory operands;
    lane l's integer less the block's 128·Σw of the lane is the exact
    Σ x·w of values 4l..4l+3 that dot8.go's order takes, and the float
    steps are the same. Per pair two integer multiplies and a subtraction,
    where the sign trick takes a sign, two multiplies and the unpacking."""
    name = f"dot8u{R}x{C}"
    acc = lambda r, c: f"Y{16 - R * C + r * C + c}"
    emit(f"\n// func {name}({SARGS})")
    emit(f"TEXT ·{name}(SB), NOSPLIT, $0-64")
    emit("\tMOVQ dp+56(FP), R9")
    tile_args(emit)
    emit("\tVMOVDQU ·dot8Ones(SB), Y7")
    for r in range(R):
        for c in range(C):
            emit(f"\tVXORPS {acc(r, c)}, {acc(r, c)}, {acc(r, c)}")
    u_loop(R, C, acc, "")
    reduce_store(R, C, acc)


def tile_turns(block, sfx):
    """two_a_turn for the Q4_0 tiles: block(u) emits block u of a turn;
    each block takes 64 bytes of unpacked weights (SI) and of products
    (R9) and 32 of each activation row (DI)."""
    def turn(n):
        for u in range(n):
            block(u)
        emit(f"\tADDQ ${64 * n}, SI")
        emit(f"\tADDQ ${32 * n}, DI")
        emit(f"\tADDQ ${64 * n}, R9")

    two_a_turn(sfx, turn)


def u_loop(R, C, acc, sfx):
    """The unsigned kernels' loop over CX blocks (DI: x+128 rows, BX and R12
    their stride and 3 strides, SI: unpacked weights, R13 R14 likewise, R9:
    products, Y7: words 1), two blocks a turn, an odd block first."""
    def block(u):
        for r in range(R):
            emit(f"\tVMOVDQU {X(r, 32 * u)}, Y{r}")
        for c in range(C):
            for r in range(R):
                emit(f"\tVPMADDUBSW {W(c, 64 * u)}, Y{r}, Y5")
                emit("\tVPMADDWD Y7, Y5, Y5")
                emit(f"\tVPSUBD {W(c, 64 * u + 32)}, Y5, Y5")
                emit("\tVCVTDQ2PS Y5, Y5")
                emit(f"\tVBROADCASTSS {64 * u + 16 * c + 4 * r}(R9), Y6")
                emit(f"\tVFMADD231PS Y6, Y5, {acc(r, c)}")

    tile_turns(block, sfx)


def s_loop(R, C, acc, sfx):
    """The batched Q8_0 kernels' loop over CX blocks (DI: activation blocks,
    SI: weight blocks, R9: products, Y7: words 1)."""
    emit("\tTESTQ CX, CX")
    emit(f"\tJZ done{sfx}")
    emit(f"loop{sfx}:")
    pairsR(q8_0, R, C, acc, True)
    emit(f"\tADDQ ${TYPES[0][1]}, SI")
    emit(f"\tADDQ ${ABB}, DI")
    emit("\tADDQ $64, R9")
    emit("\tDECQ CX")
    emit(f"\tJNZ loop{sfx}")


def t_groups(R, C):
    """The slots of a batched block-total tile (tkernel): per group g of
    columns 2g, 2g+1, eight slots 4c'+r (the index of the pair's d_w·d_x in
    a 4×4 tile's products, dot8Products), each the pair (r mod R,
    min(2g+c', C-1)); slots past the tile repeat a pair of it."""
    return [[(k % 4 % R, min(2 * g + k // 4, C - 1)) for k in range(8)] for g in range((C + 1) // 2)]


def t_group(slots, u):
    """Folds one group's eight pairs of block u (x+128 rows in Y0..Y3,
    dot8UnpackQ4_0's weights at SI) into their whole-block int32 dots, lane
    k slot k, in Y10. Slots 2j and 2j+1 are two rows of one column: their
    VPMADDUBSW words (two products each) are summed in pairs by one VPHADDW
    (at most 8160), less the column's 128·Σw of the four values (the
    unpacked block's second half, in VPHADDW's layout), and summed in pairs
    by VPMADDWD; two such fold by VPACKSSDW and VPMADDWD (sums of four
    products are at most 4064: |w| ≤ 8, |x| ≤ 127, so nothing saturates),
    and the halves add at the end. VPHADDW in place of a VPMADDWD per pair
    unloads the multiply pipes, which bound the tile: 64 rows 0.89 -> 0.82
    ns per block pair against the per-lane dot8u tiles."""
    def p(j, dst):
        # slots 2j and 2j+1 are two rows of one column: their words of
        # two products summed in pairs by one VPHADDW, less the column's
        # 128·Σw of the four values, summed in pairs again
        (ra, c), (rb, cb) = slots[2 * j], slots[2 * j + 1]
        assert c == cb
        emit(f"\tVPMADDUBSW {W(c, 64 * u)}, Y{ra}, Y5")
        sb = "Y5"
        if rb != ra:
            emit(f"\tVPMADDUBSW {W(c, 64 * u)}, Y{rb}, Y6")
            sb = "Y6"
        emit(f"\tVPHADDW {sb}, Y5, {dst}")
        emit(f"\tVPSUBW {W(c, 64 * u + 32)}, {dst}, {dst}")
        emit(f"\tVPMADDWD Y7, {dst}, {dst}")

    def q(h, dst, spare):
        # pairs 4h..4h+3 into dst: p(2h) there, p(2h+1) in spare unless equal
        p(2 * h, dst)
        other = dst
        if slots[4 * h + 2:4 * h + 4] != slots[4 * h:4 * h + 2]:
            p(2 * h + 1, spare)
            other = spare
        emit(f"\tVPACKSSDW {other}, {dst}, {dst}")
        emit(f"\tVPMADDWD Y7, {dst}, {dst}")

    q(0, "Y8", "Y9")
    hi = "Y8"
    if slots[4:] != slots[:4]:
        q(1, "Y9", "Y10")
        hi = "Y9"
    emit(f"\tVPERM2I128 $0x20, {hi}, Y8, Y10")
    emit(f"\tVPERM2I128 $0x31, {hi}, Y8, Y11")
    emit("\tVPADDD Y11, Y10, Y10")


def t_loop(R, C, sfx):
    """The batched block-total kernels' loop over CX blocks (DI: x+128
    rows, BX and R12 their stride and 3 strides, SI: unpacked weights, R13
    R14 likewise, R9: products, Y7: words 1), two blocks a turn, an odd
    block first; group g accumulates in Y12+g."""
    groups = t_groups(R, C)

    def block(u):
        for r in range(R):
            emit(f"\tVMOVDQU {X(r, 32 * u)}, Y{r}")
        for g, slots in enumerate(groups):
            t_group(slots, u)
            emit("\tVCVTDQ2PS Y10, Y10")
            emit(f"\tVFMADD231PS {64 * u + 32 * g}(R9), Y10, Y{12 + g}")

    tile_turns(block, sfx)


def t_store(R, C):
    """Stores a block-total tile's sums, slot 4c'+r of group g (Y12+g) to
    out[r·ldo + 2g+c'] (DI: out, AX: 4·ldo; DI is advanced by the rows)."""
    groups = (C + 1) // 2
    for g in range(groups):
        emit(f"\tVEXTRACTF128 $1, Y{12 + g}, X{5 + g}")
    for r in range(R):
        if r > 0:
            emit("\tADDQ AX, DI")
        for c in range(C):
            g, c1 = divmod(c, 2)
            reg = f"X{12 + g}" if c1 == 0 else f"X{5 + g}"
            emit(f"\tVEXTRACTPS ${r}, {reg}, {4 * c}(DI)")


def tkernel(R, C):
    """dot8t{R}x{C}: Q4_0's batched tile (dot8UnpackQ4_0 weights, x+128
    activations) under its block-total contract (dot8.go): each pair's
    whole-block integer dot, eight pairs folded into one vector (t_group),
    one conversion and one FMA with the tile's products (in the same lanes)
    per group of eight pairs, where the per-lane kernels (dot8u*) take a
    conversion, a broadcast and an FMA per pair."""
    name = f"dot8t{R}x{C}"
    emit(f"\n// func {name}({SARGS})")
    emit(f"TEXT ·{name}(SB), NOSPLIT, $0-64")
    emit("\tMOVQ dp+56(FP), R9")
    tile_args(emit)
    emit("\tVMOVDQU ·dot8Ones(SB), Y7")
    for g in range((C + 1) // 2):
        emit(f"\tVXORPS Y{12 + g}, Y{12 + g}, Y{12 + g}")
    t_loop(R, C, "")
    emit("done:")
    emit("\tMOVQ out+0(FP), DI")
    emit("\tMOVQ ldo+8(FP), AX")
    emit("\tSHLQ $2, AX")
    t_store(R, C)
    emit("\tVZEROUPPER")
    emit("\tRET")


QARGS = ARGS + ", xd, wd, dp *float32, n int"


def quad(kind):
    """dot8{kind}Quad computes n tiles of 4 rows by 4 columns, each the
    products pass and two 4x2 strips of the kind's kernel (u: unsigned
    Q4_0/Q5_0, s: Q8_0) on the tile's rows, rows 4 further each tile: one
    call per column tile and block of rows instead of five Go calls per
    tile, which cost up to a fifth of a tile of 24 blocks. Frame: 0 out,
    8 xq, 16 xd of the current tile, 24 tiles left."""
    name = f"dot8{kind}Quad"
    R, C = 4, 2
    acc = lambda r, c: f"Y{16 - R * C + r * C + c}"
    K["ones"] = "Y7"
    emit(f"\n// func {name}({QARGS})")
    emit(f"TEXT ·{name}(SB), NOSPLIT, $32-88")
    emit("\tMOVQ n+80(FP), AX")
    emit("\tTESTQ AX, AX")
    emit("\tJZ qdone")
    emit("\tMOVQ AX, 24(SP)")
    emit("\tMOVQ out+0(FP), AX")
    emit("\tMOVQ AX, 0(SP)")
    emit("\tMOVQ xq+16(FP), AX")
    emit("\tMOVQ AX, 8(SP)")
    emit("\tMOVQ xd+56(FP), AX")
    emit("\tMOVQ AX, 16(SP)")
    emit("qtile:")
    emit("\tMOVQ dp+72(FP), DI")
    emit("\tMOVQ 16(SP), R9")
    emit("\tMOVQ wd+64(FP), R10")
    emit("\tMOVQ nb+48(FP), CX")
    products_loop("q")
    emit("pdoneq:")
    for st in range(2):
        emit("\tMOVQ 8(SP), DI")
        emit("\tMOVQ ldx+24(FP), BX")
        emit("\tLEAQ (BX)(BX*2), R12")
        emit("\tMOVQ w+32(FP), SI")
        emit("\tMOVQ ldw+40(FP), R13")
        emit("\tLEAQ (R13)(R13*2), R14")
        emit("\tMOVQ dp+72(FP), R9")
        if st:
            emit("\tLEAQ (SI)(R13*2), SI")
            emit("\tADDQ $32, R9")
        emit("\tMOVQ nb+48(FP), CX")
        emit("\tVMOVDQU ·dot8Ones(SB), Y7")
        if kind == "t":
            emit("\tVXORPS Y12, Y12, Y12")
            t_loop(R, C, f"q{st}")
        else:
            for r in range(R):
                for c in range(C):
                    emit(f"\tVXORPS {acc(r, c)}, {acc(r, c)}, {acc(r, c)}")
            (u_loop if kind == "u" else s_loop)(R, C, acc, f"q{st}")
        emit(f"doneq{st}:")
        emit("\tMOVQ 0(SP), DI")
        if st:
            emit("\tADDQ $8, DI")
        emit("\tMOVQ ldo+8(FP), AX")
        emit("\tSHLQ $2, AX")
        if kind == "t":
            t_store(R, C)
        else:
            store_acc(R, C, acc)
    emit("\tMOVQ ldx+24(FP), AX")
    emit("\tSHLQ $2, AX")
    emit("\tADDQ AX, 8(SP)")
    emit("\tMOVQ ldo+8(FP), AX")
    emit("\tSHLQ $4, AX")
    emit("\tADDQ AX, 0(SP)")
    emit("\tMOVQ nb+48(FP), AX")
    emit("\tSHLQ $4, AX")
    emit("\tADDQ AX, 16(SP)")
    emit("\tDECQ 24(SP)")
    emit("\tJNZ qtile")
    emit("qdone:")
    emit("\tVZEROUPPER")
    emit("\tRET")


half_scales()
products()
quad("u")
quad("s")
quad("t")
for t in TYPES[1:]:
    unpack(*t)
for R, C in SSHAPES:
    ukernel(R, C)
for R, C in SSHAPES:
    tkernel(R, C)



def round_block(src):
    """The 32 int8 of one Q8_0 activation block at src (x·id, id broadcast
    in Y0), rounded as dot8.go's roundQ8 (truncate, then ±1 where
    the remainder reaches ±0.5: C's roundf, not the ties-to-even of
    VROUNDPS' nearest mode), clamped to ±127, NaN to 0; packed to bytes in
    Y5, in order once the caller permutes them by q8Perm. Uses Y1-Y8."""
    for i in range(4):
        emit(f"\tVMULPS {32 * i}({src}), Y0, Y1")
        emit("\tVROUNDPS $3, Y1, Y2")
        emit("\tVSUBPS Y2, Y1, Y3")
        emit("\tVCMPPS $0x1d, ·q8Half(SB), Y3, Y4")
        emit("\tVANDPS ·q8One(SB), Y4, Y4")
        emit("\tVADDPS Y4, Y2, Y2")
        emit("\tVCMPPS $0x12, ·q8NegHalf(SB), Y3, Y4")
        emit("\tVANDPS ·q8One(SB), Y4, Y4")
        emit("\tVSUBPS Y4, Y2, Y2")
        # a NaN t becomes 127 here and 0 by the mask of ordered q below
        emit("\tVMINPS ·q8Max(SB), Y2, Y2")
        emit("\tVMAXPS ·q8Min(SB), Y2, Y2")
        emit("\tVCMPPS $7, Y1, Y1, Y4")
        emit("\tVANDPS Y4, Y2, Y2")
        emit(f"\tVCVTTPS2DQ Y2, Y{5 + i}")
    emit("\tVPACKSSDW Y6, Y5, Y5")
    emit("\tVPACKSSDW Y8, Y7, Y7")
    emit("\tVPACKSSWB Y7, Y5, Y5")


def quant_row(name="q8Row", bb=34, qoff=2, sums=False):
    """q8Row quantizes nb Q8_0 activation blocks in one call, as
    quantizeQ8_0Act does, eight blocks a turn: each block's amax; then d =
    amax/127, its half and id = 1/d (0 for a block of zeros) for the eight
    in one VDIVPS each; then round_block each. A block's divisions and
    rounding form one long chain, which one block at a time left the
    quantizer waiting on latency. It stops before a block holding a NaN,
    whose amax the reference's sequential MAX decides, and returns the
    blocks it wrote. Locals: the amaxes at 0(SP), the ids at 32(SP), the
    halves at 64(SP), and for q8Row1 the d at 80(SP).

    q8Row1 writes Q8_1 blocks (quantizeQ8_1Act) the same way, with s =
    d·Σq: Σq by VPSADBW of the biased bytes, times d in float32, rounded
    to a half."""
    emit(f"\n// func {name}(dst *byte, x *float32, nb int) int")
    emit(f"TEXT ·{name}(SB), NOSPLIT, ${112 if sums else 96}-32")
    emit("\tMOVQ dst+0(FP), DI")
    emit("\tMOVQ x+8(FP), SI")
    emit("\tMOVQ nb+16(FP), CX")
    emit("\tXORQ BX, BX")  # blocks written
    emit("\tVMOVUPS ·q8Abs(SB), Y15")
    emit("\tVMOVDQU ·q8Perm(SB), Y11")
    emit("turn:")
    emit("\tMOVQ CX, R8")  # the turn's blocks: min(8, nb-BX)
    emit("\tSUBQ BX, R8")
    emit("\tJLE done")
    emit("\tCMPQ R8, $8")
    emit("\tJLE amaxes")
    emit("\tMOVQ $8, R8")
    emit("amaxes:")
    emit("\tXORQ R9, R9")
    emit("\tMOVQ SI, R10")
    emit("amax:")
    for i in range(4):
        emit(f"\tVANDPS {32 * i}(R10), Y15, Y{1 + i}")
    emit("\tVCMPPS $3, Y2, Y1, Y5")
    emit("\tVCMPPS $3, Y4, Y3, Y6")
    emit("\tVORPS Y6, Y5, Y5")
    emit("\tVMOVMSKPS Y5, AX")
    emit("\tTESTL AX, AX")
    emit("\tJNZ nan")
    emit("\tVMAXPS Y2, Y1, Y1")
    emit("\tVMAXPS Y4, Y3, Y3")
    emit("\tVMAXPS Y3, Y1, Y1")
    emit("\tVEXTRACTF128 $1, Y1, X2")
    emit("\tVMAXPS X2, X1, X1")
    emit("\tVMOVHLPS X1, X1, X2")
    emit("\tVMAXPS X2, X1, X1")
    emit("\tVMOVSHDUP X1, X2")
    emit("\tVMAXSS X2, X1, X1")
    emit("\tVMOVSS X1, (SP)(R9*4)")
    emit("\tADDQ $128, R10")
    emit("\tINCQ R9")
    emit("\tCMPQ R9, R8")
    emit("\tJLT amax")
    emit("\tJMP scales")
    emit("nan:")
    emit("\tMOVQ R9, R8")  # the turn ends before the NaN's block
    emit("\tMOVQ BX, CX")
    emit("\tADDQ R9, CX")  # and so does the row
    emit("\tTESTQ R8, R8")
    emit("\tJZ done")
    emit("scales:")
    # lanes past R8 hold stale amaxes: divided, never used
    emit("\tVMOVUPS (SP), Y1")
    emit("\tVDIVPS ·q8Max(SB), Y1, Y2")  # d = amax/127
    if sums:
        emit("\tVMOVUPS Y2, 80(SP)")
    emit("\tVMOVUPS ·q8One(SB), Y3")
    emit("\tVDIVPS Y2, Y3, Y3")  # 1/d
    emit("\tVXORPS Y4, Y4, Y4")
    emit("\tVCMPPS $4, Y4, Y2, Y4")  # d != 0
    emit("\tVANDPS Y4, Y3, Y3")
    emit("\tVMOVUPS Y3, 32(SP)")
    emit("\tVCVTPS2PH $0, Y2, 64(SP)")  # ties to even, as float16.Float32ToF16
    emit("\tXORQ R9, R9")
    emit("round:")
    emit("\tMOVWLZX 64(SP)(R9*2), AX")
    emit("\tMOVW AX, (DI)")
    emit("\tVBROADCASTSS 32(SP)(R9*4), Y0")
    round_block("SI")
    emit("\tVPERMD Y5, Y11, Y5")
    emit(f"\tVMOVDQU Y5, {qoff}(DI)")
    if sums:
        emit("\tVPXOR ·dot8Bias(SB), Y5, Y5")  # q+128, unsigned
        emit("\tVPXOR Y6, Y6, Y6")
        emit("\tVPSADBW Y6, Y5, Y5")
        emit("\tVEXTRACTI128 $1, Y5, X6")
        emit("\tVPADDQ X6, X5, X5")
        emit("\tVPSHUFD $0x4e, X5, X6")
        emit("\tVPADDQ X6, X5, X5")
        emit("\tVMOVQ X5, AX")
        emit("\tSUBQ $4096, AX")  # Σq
        emit("\tVCVTSI2SSQ AX, X5, X5")
        emit("\tVMULSS 80(SP)(R9*4), X5, X5")
        emit("\tVCVTPS2PH $0, X5, X5")
        emit("\tVMOVD X5, AX")
        emit("\tMOVW AX, 2(DI)")
    emit(f"\tADDQ $128, SI")
    emit(f"\tADDQ ${bb}, DI")
    emit("\tINCQ R9")
    emit("\tCMPQ R9, R8")
    emit("\tJLT round")
    emit("\tADDQ R8, BX")
    emit("\tJMP turn")
    emit("done:")
    emit("\tMOVQ BX, ret+24(FP)")
    emit("\tVZEROUPPER")
    emit("\tRET")


quant_row()
quant_row("q8Row1", 36, 4, sums=True)
emit("")
for i, v in enumerate([0, 4, 1, 5, 2, 6, 3, 7]):
    emit(f"DATA ·q8Perm+{4 * i}(SB)/4, ${v}")
emit("GLOBL ·q8Perm(SB), RODATA|NOPTR, $32")
for name, v in (("q8Abs", 0x7fffffff), ("q8Half", 0x3f000000), ("q8NegHalf", 0xbf000000), ("q8One", 0x3f800000),
                ("q8Max", 0x42fe0000), ("q8Min", 0xc2fe0000)):
    for i in range(8):
        emit(f"DATA ·{name}+{4 * i}(SB)/4, ${v:#x}")
    emit(f"GLOBL ·{name}(SB), RODATA|NOPTR, $32")
for name, base in (("dot8PermLo", 0), ("dot8PermHi", 2)):
    for i in range(8):
        emit(f"DATA ·{name}+{4 * i}(SB)/4, ${base + i // 4}")
    emit(f"GLOBL ·{name}(SB), RODATA|NOPTR, $32")
for i in range(8):
    emit(f"DATA ·dot8Shifts+{4 * i}(SB)/4, ${0 if i < 4 else 4}")
emit("GLOBL ·dot8Shifts(SB), RODATA|NOPTR, $32")
for i in range(4):  # bytes_from_bits_32's masks
    emit(f"DATA ·dot8HShuf+{8 * i}(SB)/8, ${0x0101010101010101 * i:#x}")
    emit(f"DATA ·dot8HBits+{8 * i}(SB)/8, $0x7fbfdfeff7fbfdfe")
emit("GLOBL ·dot8HShuf(SB), RODATA|NOPTR, $32")
emit("GLOBL ·dot8HBits(SB), RODATA|NOPTR, $32")
for name, v in (("dot8Ones", 0x00010001), ("dot8Nib", 0x0F0F0F0F), ("dot8Eight", 0x08080808),
                ("dot8Sixteen", 0x10101010), ("dot8AllOnes", 0xFFFFFFFF), ("dot8Bias", 0x80808080)):
    for i in range(8):
        emit(f"DATA ·{name}+{4 * i}(SB)/4, ${v:#x}")
    emit(f"GLOBL ·{name}(SB), RODATA|NOPTR, $32")

hdr = "//go:build goexperiment.simd && amd64\n\n// Code generated by gen_dot8.py; DO NOT EDIT.\n\n"
with open("dot8_amd64.s", "w") as f:
    f.write(hdr + '#include "textflag.h"\n' + "\n".join(out) + "\n")

go = [hdr + "package kernel\n", 'import "github.com/graft-ai/graft/engine/gguf"\n']
for t in TYPES:
    for R, C in SHAPES:
        if t[0] != "Q4_0" or R == 1:
            go.append(f"//go:noescape\nfunc dot8{t[0]}x{R}x{C}({ARGS})\n")
for R, C in SSHAPES:
    go.append(f"//go:noescape\nfunc dot8sQ8_0x{R}x{C}({SARGS})\n")
for R, C in SSHAPES:
    go.append(f"//go:noescape\nfunc dot8u{R}x{C}({SARGS})\n")
for R, C in SSHAPES:
    go.append(f"//go:noescape\nfunc dot8t{R}x{C}({SARGS})\n")
go.append(f"//go:noescape\nfunc dot8uQuad({QARGS})\n")
go.append(f"//go:noescape\nfunc dot8tQuad({QARGS})\n")
go.append(f"//go:noescape\nfunc dot8sQuad({QARGS})\n")
for t in TYPES:
    go.append(f"//go:noescape\nfunc dot8{t[0]}x1x4s({ARGS})\n")
go.append(f"//go:noescape\nfunc dot8Q4_0x1x8({ARGS})\n")
go.append(f"//go:noescape\nfunc dot8Q4_0x1x8s({ARGS})\n")
go.append("// dot8RowAVX2 holds, per type, the strided lone-row 1×4 kernel of streamRow.row.")
go.append("var dot8RowAVX2 = map[gguf.Type]dot8Func{")
for t in TYPES:
    go.append(f"\tgguf.Type{t[0]}: dot8{t[0]}x1x4s,")
go.append("}\n")
go.append("//go:noescape\nfunc dot8Products(dst, xd, wd *float32, nb int)\n")
go.append("//go:noescape\nfunc dot8HalfScales(dst *float32, w0, w1, w2, w3 *byte, nb, bb int)\n")
for t in TYPES[1:]:
    go.append(f"//go:noescape\nfunc dot8Unpack{t[0]}(dst *byte, w *byte, nb int)\n")
go.append(f"//go:noescape\nfunc q8Row(dst *byte, x *float32, nb int) int\n")
go.append(f"//go:noescape\nfunc q8Row1(dst *byte, x *float32, nb int) int\n")
go.append("// dot8AVX2 holds, per type, the kernels of R×C tiles at [R-1][C-1]: R·C ≤ 4 for one row, ≤ 8 for more.")
go.append("var dot8AVX2 = map[gguf.Type]*dot8Set{")
for t in TYPES:
    go.append(f"\tgguf.Type{t[0]}: {{")
    for R in range(1, 5):
        row = [f"dot8{t[0]}x{R}x{C}" if (R, C) in SHAPES and (t[0] != "Q4_0" or R == 1) else "nil"
               for C in range(1, 5)]
        go.append("\t\t{" + ", ".join(row) + "},")
    go.append("\t},")
go.append("}\n")
go.append("// dot8sAVX2 holds the batched kernels (Q8_0 blocks, float32 scales) of R×C tiles at [R-1][C-1], R ≥ 2.")
go.append("var dot8sAVX2 = dot8sSet{")
for R in range(1, 5):
    row = [f"dot8sQ8_0x{R}x{C}" if (R, C) in SSHAPES else "nil" for C in range(1, 5)]
    go.append("\t{" + ", ".join(row) + "},")
go.append("}\n")
go.append("// dot8uAVX2 holds the unsigned batched kernels (dot8Unpack* weights, x+128) of R×C tiles at [R-1][C-1], R ≥ 2.")
go.append("var dot8uAVX2 = dot8sSet{")
for R in range(1, 5):
    row = [f"dot8u{R}x{C}" if (R, C) in SSHAPES else "nil" for C in range(1, 5)]
    go.append("\t{" + ", ".join(row) + "},")
go.append("}\n")
go.append("// dot8tAVX2 holds Q4_0's batched block-total kernels (dot8UnpackQ4_0 weights, x+128) of R×C tiles at [R-1][C-1], R ≥ 2.")
go.append("var dot8tAVX2 = dot8sSet{")
for R in range(1, 5):
    row = [f"dot8t{R}x{C}" if (R, C) in SSHAPES else "nil" for C in range(1, 5)]
    go.append("\t{" + ", ".join(row) + "},")
go.append("}\n")
go.append("// dot8UnpackAVX2 holds the unpackers of the types whose batched tiles are dot8u*.")
go.append("var dot8UnpackAVX2 = map[gguf.Type]func(dst *byte, w *byte, nb int){")
for t in TYPES[1:]:
    go.append(f"\tgguf.Type{t[0]}: dot8Unpack{t[0]},")
go.append("}\n")
with open("dot8_amd64.go", "w") as f:
    f.write("\n".join(go).rstrip("\n") + "\n")
