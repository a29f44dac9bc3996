#!/usr/bin/env python3
"""Writes dotk_amd64.s and dotk_kernels_amd64.go: AVX2 integer dots of
K-quant weight rows with activation rows quantized to ggml's block_q8_K
(292 bytes: float32 d at 0, int8 qs[256] at 4, int16 bsums[16] at 260).

A kernel dotk{T}x{R}x{C} computes the R×C dots of R activation rows (stride
ldx bytes) with C weight rows (stride ldw bytes) of nb super-blocks each,
in the float order dotk.go defines (the reference dotQ4K / dotQ6K): the
weights' small unsigned quants meet the int8 activations in VPMADDUBSW
(pairs summed into int16, never saturating: 63·128·2 < 2^15), the sub-block
scales in VPMADDWD, and the int32 lanes of one super-block are converted and
FMA'd into eight float32 lanes per dot, reduced at the end as the AVX2 float
tiles do. The columns of a tile are done one after the other within each
super-block, so a column's unpacked quants serve all R activation rows and
only R int32 accumulators are live. Registers: Y12-Y15 float accumulators,
Y8-Y11 int32 accumulators, Y7 the type's low-bits byte mask (0x0F or
0x03), Y6 the column's scales; tiles of fewer than four rows keep their
type's most used constants (REG_CONSTS) in the accumulators they leave
free. The 8×1 kernels take Y8-Y15 for their int32 sums and keep the float
accumulators in the frame; the strided 1×4 (x1x4s) serves streamRow.row.
The Q6_Kp, Q2_Kp and Q3_Kp kernels are those types' for their packed
layouts (packq6k.go, packq2k.go, packq3k.go). Q2_Kp and Q3_Kp add all of a
super-block's products as int16 and take one VPMADDWD for it, so VNNI
would save them nothing; they run at both SIMD levels.

The lone-row kernels (1×4, 1×1) run about as much on the vector loads as
on the ALUs (Zen 3, operands in L2): each constant taken from a register
instead of memory, and each per-column widening of d done once for a 1×4
tile's four columns (shared_d), gained what dropping an ALU op did, while
moving work from loads to ALU ops (shuffle controls made by VPADDB, Q4_K's
group scales broadcast from the frame) lost. Q4_K's and Q5_K's scales are
unpacked on the integer pipes, which these kernels leave idle there. Not
so on Intel, whose integer ALUs are the vector ports 0, 1 and 5: measured
on Emerald Rapids, the AVX-512 twins (which only Intel and Zen 4 and
later run) gained 4-13% from unpacking in vector registers instead
(k4_scales_vec), and packed Q3_K 26-33% (q3_scale_words).
"""

from asmtile import W
from asmtile import X as X4

PF_ROWS = 2  # rows ahead that the strided kernel prefetches in each stream
SHAPES = [(1, 4), (1, 1), (2, 2), (2, 1), (3, 1), (4, 1)]
# dotk{T}x1x4s: the 1×4 kernel of a lone activation row whose columns are
# ldw bytes apart in the weights and ldo floats apart in out (streamRow.row
# reads four quarters of a decode matmul at once)

out = []
emit = out.append


def X(r, off):
    """Address of byte off of activation row r's current block: rows 4..7
    of the 8-row kernels from R9 = DI + 4·ldx."""
    if r < 4:
        return X4(r, off)
    return X4(r - 4, off).replace("DI", "R9")


def acc(R, C, r, c):
    return f"Y{12 + r * C + c}"


def spilled(R, C):
    """Tiles of more than four dots keep their float accumulators in the
    frame, 32 bytes each from ACC_OFF: the eight int32 sums of the 8-row
    kernels take Y8-Y15."""
    return R * C > 4


ACC_OFF = 32


def acc_open(R, C, r, c, tmp):
    """The register to accumulate dot (r, c) in, loading it into tmp when
    spilled; acc_close stores it back."""
    if not spilled(R, C):
        return acc(R, C, r, c)
    emit(f"\tVMOVUPS {ACC_OFF + 32 * (r * C + c)}(SP), {tmp}")
    return tmp


def acc_close(R, C, r, c, tmp):
    if spilled(R, C):
        emit(f"\tVMOVUPS {tmp}, {ACC_OFF + 32 * (r * C + c)}(SP)")


def isum(r):
    return f"Y{8 + r}"


def madd_sum(r, s, t, k, vnni):
    """Adds the VPMADDWD of s and t to row r's int32 sums, as the k-th of its
    groups (the first sets them); the AVX2 form leaves t changed. With VNNI,
    VPDPWSSD does the multiply and the sum in one, the same wrapping int32
    arithmetic, and the groups alternate between two sums (isum(r) and
    Y16+r, joined by chains_end): each VPDPWSSD waits for the one before it
    on its sum, 5 cycles where VPADDD took 1, and a lone row with one sum
    was slower than AVX2."""
    if vnni:
        acc = isum(r) if k % 2 == 0 else f"Y{16 + r}"
        emit(f"\t{'VPMADDWD' if k < 2 else 'VPDPWSSD'} {s}, {t}, {acc}")
        return
    emit(f"\tVPMADDWD {s}, {t}, {t}")
    if k == 0:
        emit(f"\tVMOVDQA {t}, {isum(r)}")
    else:
        emit(f"\tVPADDD {t}, {isum(r)}, {isum(r)}")


def chains_end(R, vnni):
    """isum(r) += Y16+r, the second sum of madd_sum's VNNI form."""
    if vnni:
        for r in range(R):
            emit(f"\tVPADDD Y{16 + r}, {isum(r)}, {isum(r)}")


def q4_k(R, C, c, vnni=False):
    k45(R, C, c, 16, None, vnni)


def q5_k(R, C, c, vnni=False):
    # 176 bytes: as Q4_K with qh[32] at 16 (bit sb of qh[l] adds 16 to value
    # l of sub-block sb) and qs at 48
    k45(R, C, c, 48, 16, vnni)


def k45(R, C, c, qs, qh, vnni=False):
    # Q4_K: 144 bytes: d, dmin, scales[12], qs[128]. The 6-bit scales and
    # mins (ggml's get_scale_min_k4) unpacked by k4_scales into R = scales
    # 0..7, mins 0..7, one byte each: sc[j] = q[j]&63, mn[j] = q[j+4]&63 for
    # j < 4; sc[j] = q[j+4]&15 | (q[j-4]>>6)<<4, mn[j] = q[j+4]>>4 |
    # (q[j]>>6)<<4 beyond. R goes to the frame for the mins at the end; Y6
    # gets the scales as words in both lanes.
    if vnni:
        k4_scales_vec(c)
    else:
        k4_scales(c)
    emit("\tVINSERTI128 $1, X1, Y1, Y1")
    if not SHARE:
        emit("\tVMOVDQU Y1, (SP)")
    emit("\tVPSHUFB ·dotkK4ScW(SB), Y1, Y6")
    for j in range(4):
        emit(f"\tVMOVDQU {W(c, qs + 32 * j)}, Y0")
        emit("\tVPSRLW $4, Y0, Y1")
        emit("\tVPAND Y7, Y0, Y0")
        emit("\tVPAND Y7, Y1, Y1")
        if qh is not None:
            # bit sb of each qh byte to bit 4: word shifts keep it within
            # its byte. A lone row keeps qh in Y11 for the column's eight
            # sub-blocks instead of loading it for each.
            hreg = R == 1
            if hreg and j == 0:
                emit(f"\tVMOVDQU {W(c, qh)}, Y11")
            for q, t, sb in (("Y0", "Y4", 2 * j), ("Y1", "Y5", 2 * j + 1)):
                src = "Y11" if hreg else t
                if not hreg:
                    emit(f"\tVMOVDQU {W(c, qh)}, {t}")
                if sb < 4:
                    emit(f"\tVPSLLW ${4 - sb}, {src}, {t}")
                elif sb > 4:
                    emit(f"\tVPSRLW ${sb - 4}, {src}, {t}")
                elif hreg and not vnni:
                    emit(f"\tVMOVDQA Y11, {t}")
                if vnni:
                    # q |= t & 0x10 in one VPTERNLOGD (AVX-512VL)
                    bit = src if sb == 4 else t
                    emit(f"\tVPTERNLOGD $0xf8, {k('dotk0x10')}, {bit}, {q}")
                    continue
                emit(f"\tVPAND {k('dotk0x10')}, {t}, {t}")
                emit(f"\tVPOR {t}, {q}, {q}")
        emit(f"\tVPSHUFB {k(f'dotkK4Shuf+{64 * j}')}, Y6, Y2")
        emit(f"\tVPSHUFB {k(f'dotkK4Shuf+{64 * j + 32}')}, Y6, Y3")
        for r in range(R):
            for h, (q, s, t) in enumerate((("Y0", "Y2", "Y4"), ("Y1", "Y3", "Y5"))):
                emit(f"\tVPMADDUBSW {X(r, 4 + 64 * j + 32 * h)}, {q}, {t}")
                madd_sum(r, s, t, 2 * j + h, vnni)
    chains_end(R, vnni)
    # lane k of the mins: mins[k]·(bsums[2k]+bsums[2k+1]), by VPMADDWD with
    # mins[k] in both words of dword k, or, where shared_d left the pair
    # sums in the frame, in the low word
    d_dmin(c, 0)
    if SHARE:
        if vnni:
            emit("\tVPMOVZXBD X18, Y2")  # k4_scales_vec's mins
        else:
            emit("\tVMOVQ DX, X2")
            emit("\tVPMOVZXBD X2, Y2")
        mins_end(R, C, c, f"{BB_OFF}(SP)")
        return
    emit("\tVMOVDQU (SP), Y2")
    emit("\tVPSHUFB ·dotkK4MnW(SB), Y2, Y2")
    mins_end(R, C, c)


def k4_scales(c):
    """X1 = Q4_K's scales 0..7 and mins 0..7 as bytes, unpacked on the
    integer pipes (ggml's kmask steps on the three words u0, u1, u2 of
    scales[12]): sc[0..3] = u0&0x3f.., mn[0..3] = u1&0x3f..,
    sc[4..7] = u2&0x0f.. | (u0>>6&0x03..)<<4, mn[4..7] = u2>>4&0x0f.. |
    (u1>>6&0x03..)<<4. The vector unpacking it replaces (two VPSHUFB, and
    shifts and masks of both halves) cost the lone-row kernels more: they
    are bound by the vector pipes and loads, and the integer pipes idle."""
    for u, lo in ((0, "AX"), (4, "DX")):
        emit(f"\tMOVL {W(c, 4 + u)}, {lo}")
        emit(f"\tMOVL {W(c, 12)}, R10")
        if u:
            emit("\tSHRL $4, R10")
        emit("\tANDL $0x0f0f0f0f, R10")
        emit(f"\tMOVL {lo}, R11")
        emit("\tSHRL $6, R11")
        emit("\tANDL $0x03030303, R11")
        emit("\tSHLL $4, R11")
        emit("\tORL R11, R10")
        emit(f"\tANDL $0x3f3f3f3f, {lo}")
        emit("\tSHLQ $32, R10")
        emit(f"\tORQ R10, {lo}")
    emit("\tVMOVQ AX, X1")
    if not SHARE:  # else the mins stay in DX for the end (k45)
        emit("\tVPINSRQ $1, DX, X1, X1")


def k4_scales_vec(c):
    """k4_scales in vector registers, for the AVX-512 twins: the 16 bytes
    at 0 (d, dmin, then the scales' words u0, u1, u2) shuffled to (u0, u2,
    u1, u2) and (u0, u0, u1, u1), shifted per dword (VPSRLVD: the second by
    32 in dwords 0 and 2, which clears them) and merged by a VPTERNLOGD
    that takes the first's bits under dotkK4Low and the second's elsewhere,
    then masked to 6 bits: X1 = sc[0..7], mn[0..7]. On Intel the integer
    ALUs are the vector ports 0, 1 and 5, and k4_scales' 24 integer ops a
    column cost the twins more than these seven. A lone row of four columns
    (SHARE) keeps the mins in X18 for its end."""
    emit(f"\tVMOVDQU {W(c, 0)}, X0")
    emit("\tVPSHUFD $0xed, X0, X1")  # u0, u2, u1, u2
    emit("\tVPSHUFD $0xa5, X0, X0")  # u0, u0, u1, u1
    emit("\tVPSRLVD ·dotkK4Sh1(SB), X1, X1")
    emit("\tVPSRLVD ·dotkK4Sh2(SB), X0, X0")
    emit("\tVPTERNLOGD $0xe4, ·dotkK4Low(SB), X0, X1")
    emit("\tVPANDD ·dotk0x3F(SB), X1, X1")
    if SHARE:
        emit("\tVPSRLDQ $8, X1, X18")


def q6_k(R, C, c):
    # 210 bytes: ql[128], qh[64], int8 scales[16], d. Half n (128 values)
    # reads ql[64n:] (Y0, Y1) and qh[32n:] (Y2); group m of 32 values is
    # made as unsigned bytes (4 bits of ql, 2 of qh), 0..63. Group m of
    # half n takes scale 8n+2m for its low 16 values, 8n+2m+1 for the high
    # ones: Y6 holds the even scales as words in the low lane and the odd
    # ones in the high lane, so that one VPSHUFB (word 4n+m of each lane,
    # dotkK4Shuf's entry) picks both, with no per-half widening.
    emit(f"\tVMOVDQU {W(c, 192)}, X6")
    emit("\tVPSHUFB ·dotkK6EvenOdd(SB), X6, X6")
    emit("\tVPMOVSXBW X6, Y6")
    for n in range(2):
        emit(f"\tVMOVDQU {W(c, 64 * n)}, Y0")
        emit(f"\tVMOVDQU {W(c, 64 * n + 32)}, Y1")
        emit(f"\tVMOVDQU {W(c, 128 + 32 * n)}, Y2")
        for m in range(4):
            src = "Y0" if m % 2 == 0 else "Y1"
            if m < 2:
                emit(f"\tVPAND Y7, {src}, Y3")
            else:
                emit(f"\tVPSRLW $4, {src}, Y3")
                emit("\tVPAND Y7, Y3, Y3")
            shift = [4, 2, 0, -2][m]
            m30 = k("dotk0x30")
            if shift > 0:
                emit(f"\tVPSLLW ${shift}, Y2, Y4")
                emit(f"\tVPAND {m30}, Y4, Y4")
            elif shift < 0:
                emit(f"\tVPSRLW ${-shift}, Y2, Y4")
                emit(f"\tVPAND {m30}, Y4, Y4")
            else:
                emit(f"\tVPAND {m30}, Y2, Y4")
            emit("\tVPOR Y4, Y3, Y3")
            emit(f"\tVPSHUFB {k(f'dotkK4Shuf+{32 * (4 * n + m)}')}, Y6, Y4")
            for r in range(R):
                emit(f"\tVPMADDUBSW {X(r, 4 + 128 * n + 32 * m)}, Y3, Y5")
                madd_sum(r, "Y4", "Y5", 4 * n + m, False)
    # less 32·(sc[2k]·bsums[2k] + sc[2k+1]·bsums[2k+1]) in lane k
    emit(f"\tVPMOVSXBW {W(c, 192)}, Y6")
    offset_end(R, C, c, 208, 5)


def q6_kp(R, C, c, vnni=False):
    # Q6_K packed by packQ6KBlock (packq6k.go), activations in its order
    # (actQ8_KT): word j of every 32-value group is a pair of sub-block j's
    # values, so the scales as words (Y6, once) serve every group, two
    # groups' products add as int16 before one VPMADDWD, and dword k holds
    # sub-blocks 2k and 2k+1. Half n is three chunks at 96n: chunk i holds
    # group 4n+i in bits 0-5 and bits 2i, 2i+1 of group 4n+3 in bits 6-7.
    # Y7 = 0x3F; group 3 is gathered with VPANDN (0xC0).
    emit(f"\tVPMOVSXBW {W(c, 192)}, Y6")
    for n in range(2):
        for i in range(3):
            emit(f"\tVMOVDQU {W(c, 96 * n + 32 * i)}, Y{i}")
        if GFNI:
            # bits 6-7 of chunk i to 2i, 2i+1, and one VPTERNLOGD ors the three
            for i in range(3):
                field(f"Y{3 + i}", f"Y{i}", 6, 2, to=2 * i)
            emit("\tVPTERNLOGD $0xfe, Y5, Y4, Y3")
        else:
            for i, shift in enumerate((6, 4, 2)):
                dst = "Y3" if i == 0 else "Y4"
                emit(f"\tVPANDN Y{i}, Y7, {dst}")
                emit(f"\tVPSRLW ${shift}, {dst}, {dst}")
                if i > 0:
                    emit("\tVPOR Y4, Y3, Y3")
        for i in range(3):
            emit(f"\tVPAND Y7, Y{i}, Y{i}")
        for m in (0, 2):
            g = 4 * n + m
            for r in range(R):
                emit(f"\tVPMADDUBSW {X(r, 4 + 32 * g)}, Y{m}, Y4")
                emit(f"\tVPMADDUBSW {X(r, 4 + 32 * g + 32)}, Y{m + 1}, Y5")
                emit("\tVPADDW Y5, Y4, Y4")
                madd_sum(r, "Y6", "Y4", 2 * n + m // 2, vnni)
    chains_end(R, vnni)
    offset_end(R, C, c, 208, 5)

# GFNI's VGF2P8AFFINEQB moves any bits of each byte to any others in one
# op: GF_FIELDS are the fields the packed K-quant kernels take out of their
# bytes, (lowest bit, width, where it goes); GF_REG is their matrices'
# registers, the EVEX-only Y24 and up, of which a GFNI kernel (GFNI set
# while one is written) loads those its body used (GF_USED) once a call.
GF_FIELDS = [(2, 2, 0), (4, 2, 0), (6, 2, 0), (3, 3, 0), (6, 1, 2), (7, 1, 2), (6, 2, 2), (6, 2, 4)]
GF_REG = {f: 24 + i for i, f in enumerate(GF_FIELDS)}
GFNI = False
GF_USED = set()


def gf_matrix(lo, width, to):
    """VGF2P8AFFINEQB's matrix for the field: result bit i is the parity of
    the byte ANDed with the matrix's byte 7-i."""
    q = 0
    for i in range(width):
        q |= (1 << (lo + i)) << (8 * (7 - (to + i)))
    return q


def field(dst, src, lo, width, to=0, mask=None):
    """dst = bits lo..lo+width-1 of each byte of src, moved to bit to and
    the rest zero: one VGF2P8AFFINEQB with GFNI, else a word shift (which
    keeps the field within its byte) and mask (the operand of width's
    bits at to)."""
    if lo == to:
        emit(f"\tVPAND {mask}, {src}, {dst}")
        return
    if GFNI:
        GF_USED.add((lo, width, to))
        emit(f"\tVGF2P8AFFINEQB $0, Y{GF_REG[(lo, width, to)]}, {src}, {dst}")
        return
    emit(f"\tVPSRLW ${lo - to}, {src}, {dst}")
    emit(f"\tVPAND {mask}, {dst}, {dst}")


def group_words(R, g):
    """Adds the VPMADDUBSW words of group g's quants (Y3) and activations
    to isum(r) as int16 (group 0 sets them): the packed Q2_K and Q3_K
    layouts keep a super-block's sums in 16 bits."""
    for r in range(R):
        if g == 0:
            emit(f"\tVPMADDUBSW {X(r, 4)}, Y3, {isum(r)}")
        else:
            emit(f"\tVPMADDUBSW {X(r, 4 + 32 * g)}, Y3, Y5")
            emit(f"\tVPADDW Y5, {isum(r)}, {isum(r)}")


def scale_words(R):
    """isum(r) = its int16 words times the scales as words (Y6), dword k
    the sum of sub-blocks 2k and 2k+1."""
    for r in range(R):
        emit(f"\tVPMADDWD Y6, {isum(r)}, {isum(r)}")


def q2_kp(R, C, c):
    # Q2_K packed by packQ2KBlock (packq2k.go), activations in actQ8_KT's
    # order: word j of every group is a pair of sub-block j's values, so
    # the eight groups' VPMADDUBSW words add as int16 in isum(r) (at most
    # 8·2·3·128) and one VPMADDWD by the scales as words (Y6) leaves
    # sub-blocks 2k and 2k+1 in dword k. Half n is 32 bytes at 16+32n, group
    # 4n+m in bits 2m, 2m+1 of each byte. Y7 = 0x03 bytes.
    emit(f"\tVPMOVZXBW {W(c, 0)}, Y6")
    emit(f"\tVPAND {k('dotkLow4W')}, Y6, Y6")
    for n in range(2):
        emit(f"\tVMOVDQU {W(c, 16 + 32 * n)}, Y0")
        for m in range(4):
            field("Y3", "Y0", 2 * m, 2, mask="Y7")
            group_words(R, 4 * n + m)
    scale_words(R)
    d_dmin(c, 80)
    emit(f"\tVPMOVZXBW {W(c, 0)}, Y2")
    emit("\tVPSRLW $4, Y2, Y2")  # the sixteen mins as words
    mins_end(R, C, c)


def half_groups(R, n, build, vnni=False):
    """The four 32-value groups m of half n: build(m) leaves the unsigned
    quants in Y3; Y6 holds the half's eight scales as words in both lanes,
    and VPSHUFB picks scale 2m for the low 16 values, 2m+1 for the high."""
    for m in range(4):
        build(m)
        emit(f"\tVPSHUFB {k(f'dotkK6Shuf+{32 * m}')}, Y6, Y4")
        for r in range(R):
            emit(f"\tVPMADDUBSW {X(r, 4 + 128 * n + 32 * m)}, Y3, Y5")
            madd_sum(r, "Y4", "Y5", 4 * n + m, vnni)


def bit_to(reg, src_bit, dst_bit, mask, src=None):
    """Moves bit src_bit of every byte of src (reg itself if None) to
    dst_bit of reg, masked: word shifts keep it within its byte."""
    src = src or reg
    if src_bit < dst_bit:
        emit(f"\tVPSLLW ${dst_bit - src_bit}, {src}, {reg}")
    elif src_bit > dst_bit:
        emit(f"\tVPSRLW ${src_bit - dst_bit}, {src}, {reg}")
    else:
        emit(f"\tVPAND {k(mask)}, {src}, {reg}")
        return
    emit(f"\tVPAND {k(mask)}, {reg}, {reg}")


def q2_k(R, C, c, vnni=False):
    # 84 bytes: scales[16] (low nibble scale, high nibble min, per 16
    # values), qs[64], d, dmin. Value 32m+b of half n is (qs[32n+b] >> 2m) & 3
    # with scale 8n+2m+b/16. Y7 = 0x03 bytes.
    for n in range(2):
        emit(f"\tVPMOVZXBW {W(c, 8 * n)}, X6")
        emit("\tVPAND ·dotkLow4W(SB), X6, X6")
        emit("\tVINSERTI128 $1, X6, Y6, Y6")
        emit(f"\tVMOVDQU {W(c, 16 + 32 * n)}, Y0")

        def build(m):
            if m:
                emit(f"\tVPSRLW ${2 * m}, Y0, Y3")
                emit("\tVPAND Y7, Y3, Y3")
            else:
                emit("\tVPAND Y7, Y0, Y3")
        half_groups(R, n, build, vnni)
    chains_end(R, vnni)
    d_dmin(c, 80)
    emit(f"\tVPMOVZXBW {W(c, 0)}, Y2")
    emit("\tVPSRLW $4, Y2, Y2")  # the sixteen mins as words
    mins_end(R, C, c)


def d_dmin(c, off):
    """Y0, Y1 = the halves d and dmin at off, widened, unless the tile's
    products with yd are in the frame (shared_d)."""
    if SHARE:
        return
    emit(f"\tVPBROADCASTW {W(c, off)}, X0")
    emit("\tVCVTPH2PS X0, Y0")
    emit(f"\tVPBROADCASTW {W(c, off + 2)}, X1")
    emit("\tVCVTPH2PS X1, Y1")


def mins_end(R, C, c, bsums=None):
    """Y0 = d, Y1 = dmin (d_dmin), Y2 = the mins as VPMADDWD's partner of
    the bsums (or of the operand bsums): acc = fma(yd·d, S, acc), then
    acc -= (yd·dmin)·M, per row."""
    for r in range(R):
        if SHARE:
            emit(f"\tVBROADCASTSS {D_OFF + 8 * c}(SP), Y4")
            emit(f"\tVBROADCASTSS {D_OFF + 8 * c + 4}(SP), Y3")
        else:
            emit(f"\tVBROADCASTSS {X(r, 0)}, Y3")
            emit("\tVMULPS Y0, Y3, Y4")
            emit("\tVMULPS Y1, Y3, Y3")
        emit(f"\tVCVTDQ2PS {isum(r)}, Y5")
        a = acc_open(R, C, r, c, "Y6")  # the scales are done with
        emit(f"\tVFMADD231PS Y5, Y4, {a}")
        emit(f"\tVPMADDWD {bsums or X(r, 260)}, Y2, Y5")
        emit("\tVCVTDQ2PS Y5, Y5")
        emit(f"\tVFNMADD231PS Y5, Y3, {a}")
        acc_close(R, C, r, c, "Y6")


def offset_end(R, C, c, d_off, shift):
    """Y6 = the sixteen scales as words: S less (sc·bsums)<<shift lane by
    lane, converted and FMA'd with yd·d (the half at d_off)."""
    if not SHARE:
        emit(f"\tVPBROADCASTW {W(c, d_off)}, X0")
        emit("\tVCVTPH2PS X0, Y0")
    for r in range(R):
        emit(f"\tVPMADDWD {X(r, 260)}, Y6, Y1")
        emit(f"\tVPSLLD ${shift}, Y1, Y1")
        emit(f"\tVPSUBD Y1, {isum(r)}, {isum(r)}")
        emit(f"\tVCVTDQ2PS {isum(r)}, {isum(r)}")
        if SHARE:
            emit(f"\tVBROADCASTSS {D_OFF + 4 * c}(SP), Y2")
        else:
            emit(f"\tVBROADCASTSS {X(r, 0)}, Y2")
            emit("\tVMULPS Y0, Y2, Y2")
        a = acc_open(R, C, r, c, "Y3")
        emit(f"\tVFMADD231PS {isum(r)}, Y2, {a}")
        acc_close(R, C, r, c, "Y3")


# D_OFF is where shared_d leaves a lone row's yd·d (and yd·dmin) of the
# tile's four columns, BB_OFF the pair sums of its bsums (Q4_K, Q5_K);
# SHARE is set while a kernel that does so is written.
D_OFF = 32
BB_OFF = 64
SHARE = False


def shared_d(off, pair, k45_type=False):
    """yd times the four columns' d (pair: d and dmin, interleaved), the
    halves at off, to the frame at D_OFF: one widening and one product a
    block for the four instead of one each per column. The scalar loads go
    to the integer pipes, which the kernels leave idle."""
    load, bits = ("MOVL", 32) if pair else ("MOVWQZX", 16)
    for c, r in enumerate(("AX", "DX", "R10", "R11")):
        emit(f"\t{load} {W(c, off)}, {r}")
    for lo, hi in (("AX", "DX"), ("R10", "R11")):
        emit(f"\tSHLQ ${bits}, {hi}")
        emit(f"\tORQ {hi}, {lo}")
    if k45_type:
        # bsums[2k]+bsums[2k+1] in dword k, the partner of the mins in
        # their low words: VPMADDWD reads the sum's low word alone, exact
        # because quantizeQ8K's bsums are at most 16·127 in magnitude, so
        # a pair's sum fits in 16 bits
        emit("\tVMOVDQU 260(DI), Y0")
        emit("\tVPMADDWD ·dotkOnes16(SB), Y0, Y0")
        emit(f"\tVMOVDQU Y0, {BB_OFF}(SP)")
    if pair:
        emit("\tVMOVQ AX, X0")
        emit("\tVPINSRQ $1, R10, X0, X0")
        emit("\tVCVTPH2PS X0, Y0")
        emit("\tVBROADCASTSS (DI), Y1")
        emit("\tVMULPS Y0, Y1, Y0")
        emit(f"\tVMOVUPS Y0, {D_OFF}(SP)")
    else:
        emit("\tSHLQ $32, R10")
        emit("\tORQ R10, AX")
        emit("\tVMOVQ AX, X0")
        emit("\tVCVTPH2PS X0, X0")
        emit("\tVBROADCASTSS (DI), X1")
        emit("\tVMULPS X0, X1, X0")
        emit(f"\tVMOVUPS X0, {D_OFF}(SP)")


def q3_k(R, C, c, vnni=False):
    # 110 bytes: hmask[32], qs[64], scales[12] (sixteen 6-bit values less
    # 32, ggml's aux packing), d. Value 32m+b of half n is
    # ((qs[32n+b] >> 2m) & 3) - 4·(bit 4n+m of hmask[b] clear); made here as
    # the unsigned (low | bit<<2), with 4·Σ sc·bsums taken off at the end.
    # R10, DX = scales 0..7, 8..15 (before the -32). Y7 = 0x03 bytes.
    # s0 = aux0&k2 | (aux2&k1)<<4, s1 = aux1&k2 | ((aux2>>2)&k1)<<4,
    # s2 = (aux0>>4)&k2 | ((aux2>>4)&k1)<<4, s3 = (aux1>>4)&k2 | ((aux2>>6)&k1)<<4
    # (aux reloaded from the block rather than held: few registers are free)
    q3_scales(c)
    if R == 1:
        emit(f"\tVMOVDQU {W(c, 0)}, Y11")
    for n in range(2):
        emit(f"\tVMOVQ {'R10' if n == 0 else 'DX'}, X6")
        emit("\tVPSUBB ·dotk32B(SB), X6, X6")
        emit("\tVPMOVSXBW X6, X6")
        emit("\tVINSERTI128 $1, X6, Y6, Y6")
        emit(f"\tVMOVDQU {W(c, 32 + 32 * n)}, Y0")

        def build(m, n=n):
            if m:
                emit(f"\tVPSRLW ${2 * m}, Y0, Y3")
                emit("\tVPAND Y7, Y3, Y3")
            else:
                emit("\tVPAND Y7, Y0, Y3")
            # a lone row keeps hmask in Y11 for the column's eight groups
            if R == 1:
                bit_to("Y4", 4 * n + m, 2, "dotk0x04", src="Y11")
            else:
                emit(f"\tVMOVDQU {W(c, 0)}, Y4")
                bit_to("Y4", 4 * n + m, 2, "dotk0x04")
            emit("\tVPOR Y4, Y3, Y3")
        half_groups(R, n, build, vnni)
    chains_end(R, vnni)
    emit("\tVMOVQ R10, X6")
    emit("\tVPINSRQ $1, DX, X6, X6")
    emit("\tVPSUBB ·dotk32B(SB), X6, X6")
    emit("\tVPMOVSXBW X6, Y6")
    offset_end(R, C, c, 108, 2)


def q3_scales(c):
    """R10, DX = Q3_K's scales 0..7, 8..15 (6 bits, before the -32), from
    the 12 bytes at 96 (q3_k says how)."""
    for i, (aux, dst) in enumerate(((96, "R10"), (100, "AX"), (96, "DX"), (100, "AX"))):
        emit(f"\tMOVL {W(c, 104)}, R11")
        if i:
            emit(f"\tSHRL ${2 * i}, R11")
        emit("\tANDL $0x03030303, R11")
        emit("\tSHLL $4, R11")
        emit(f"\tMOVL {W(c, aux)}, {dst}")
        if i >= 2:
            emit(f"\tSHRL $4, {dst}")
        emit(f"\tANDL $0x0f0f0f0f, {dst}")
        emit(f"\tORL R11, {dst}")
        if i % 2:
            emit("\tSHLQ $32, AX")
            emit(f"\tORQ AX, {'R10' if i == 1 else 'DX'}")


def q3_scale_words(c):
    """Y6 = Q3_K's sixteen scales less 32 as words, unpacked in vector
    registers: scale j is (p[j%8] >> 4·(j/8)) & 15 | ((p[8+j%4] >> 2·(j/4))
    & 3) << 4 of the 12 bytes p at 96. q3_scales' 34 integer ops a column
    took the ports the vector ops need (Intel's 0, 1 and 5 serve both)."""
    emit(f"\tVMOVQ {W(c, 96)}, X0")
    emit("\tVPSRLW $4, X0, X2")
    emit("\tVPUNPCKLQDQ X2, X0, X0")
    emit("\tVPAND ·dotk0x0F(SB), X0, X0")
    emit(f"\tVPBROADCASTD {W(c, 104)}, X1")
    emit("\tVPSRLVD ·dotkQ3Shift(SB), X1, X1")
    emit(f"\tVPAND {k('dotk0x03')}, X1, X1".replace(" Y", " X"))
    emit("\tVPSLLW $4, X1, X1")
    emit("\tVPOR X1, X0, X0")
    emit("\tVPSUBB ·dotk32B(SB), X0, X0")
    emit("\tVPMOVSXBW X0, Y6")


def q3_kp(R, C, c):
    # Q3_K packed by packQ3KBlock (packq3k.go), activations in actQ8_KT's
    # order, as q2_kp: the eight groups' words add as int16 in isum(r) (at
    # most 8·2·7·128) before one VPMADDWD by the sixteen scales as words
    # (Y6, less 32), and offset_end takes 4·Σ sc·bsums off lane by lane.
    # The groups are 3-bit fields of three chunks (Y0-Y2): g0, g1 and the
    # low bits of g2 in chunk 0, g3, g4, g5's in chunk 1, g6, g7 and the
    # high bits of g2 (bit 6) and g5 (bit 7) in chunk 2. Y7 = 0x07 bytes.
    q3_scale_words(c)
    for i in range(3):
        emit(f"\tVMOVDQU {W(c, 32 * i)}, Y{i}")
    for g in range(8):
        chunk, f = divmod(g, 3)
        src = f"Y{chunk}"
        if f < 2:
            field("Y3", src, 3 * f, 3, mask="Y7")
        else:
            field("Y3", src, 6, 2, mask=k("dotk0x03"))
            field("Y4", "Y2", 6 + chunk, 1, to=2, mask=k("dotk0x04"))
            emit("\tVPOR Y4, Y3, Y3")
        group_words(R, g)
    scale_words(R)
    offset_end(R, C, c, 108, 2)


def quantizer():
    """quantQ8K(dst *byte, x *float32, nb int): ggml's quantize_row_q8_K_ref
    for nb blocks (dotk.go's quantizeQ8K, the reference, says why each step
    is as it is). The largest magnitude is a VMAXPS of |x| (a NaN |x| loses,
    as it does in ggml's `ax > amax`), the first x of that magnitude is found
    by VCMPPS/VMOVMSKPS, the quants are ggml's nearest_int (the 1.5·2^23
    trick, capped at 127) truncated to bytes by masking and unsigned packs,
    and bsums come from VPMADDUBSW/VPMADDWD by ones and two VPHADDD."""
    emit("\n// func quantQ8K(dst *byte, x *float32, nb int)")
    emit("TEXT ·quantQ8K(SB), NOSPLIT, $0-24")
    emit("\tMOVQ dst+0(FP), DI")
    emit("\tMOVQ x+8(FP), SI")
    emit("\tMOVQ nb+16(FP), CX")
    emit("\tVMOVDQU ·dotkOnes8(SB), Y9")
    emit("\tVMOVDQU ·dotkOnes16(SB), Y10")
    emit("\tVMOVDQU ·dotkPerm(SB), Y11")
    emit("\tTESTQ CX, CX")
    emit("\tJZ qdone")
    emit("qblock:")
    emit("\tVMOVUPS ·dotkAbs(SB), Y8")
    for a in range(4):
        emit(f"\tVXORPS Y{a}, Y{a}, Y{a}")
    for g in range(32):
        emit(f"\tVANDPS {32 * g}(SI), Y8, Y4")
        emit(f"\tVMAXPS Y{g % 4}, Y4, Y{g % 4}")
    emit("\tVMAXPS Y1, Y0, Y0")
    emit("\tVMAXPS Y3, Y2, Y2")
    emit("\tVMAXPS Y2, Y0, Y0")
    emit("\tVPERM2F128 $1, Y0, Y0, Y1")
    emit("\tVMAXPS Y1, Y0, Y0")
    emit("\tVPERMILPS $0x4E, Y0, Y1")
    emit("\tVMAXPS Y1, Y0, Y0")
    emit("\tVPERMILPS $0xB1, Y0, Y1")
    emit("\tVMAXPS Y1, Y0, Y0")  # amax in every lane
    emit("\tVXORPS X1, X1, X1")
    emit("\tVUCOMISS X1, X0")
    emit("\tJEQ qzero")
    # the first x with |x| = amax (there is one: amax is one of them)
    emit("\tXORQ R10, R10")
    emit("qfind:")
    emit("\tVANDPS (SI)(R10*4), Y8, Y4")
    emit("\tVCMPPS $0, Y0, Y4, Y4")
    emit("\tVMOVMSKPS Y4, AX")
    emit("\tTESTL AX, AX")
    emit("\tJNZ qfound")
    emit("\tADDQ $8, R10")
    emit("\tJMP qfind")
    emit("qfound:")
    emit("\tBSFL AX, AX")
    emit("\tADDQ R10, AX")
    emit("\tVMOVSS (SI)(AX*4), X2")
    emit("\tVMOVSS ·dotkMinus127(SB), X3")
    emit("\tVDIVSS X2, X3, X3")  # iscale = -127/max
    emit("\tVMOVSS ·dotkOne(SB), X4")
    emit("\tVDIVSS X3, X4, X4")
    emit("\tVMOVSS X4, (DI)")  # d = 1/iscale
    emit("\tVBROADCASTSS X3, Y3")
    for h in range(2):
        for k in range(4):
            ch = 4 * h + k
            for g in range(4):
                t = f"Y{4 + g}"
                emit(f"\tVMULPS {32 * (4 * ch + g)}(SI), Y3, {t}")
                emit(f"\tVADDPS ·dotkMagic(SB), {t}, {t}")
                emit(f"\tVPAND ·dotkMant(SB), {t}, {t}")
                emit(f"\tVPSUBD ·dotkHalf(SB), {t}, {t}")
                emit(f"\tVPMINSD ·dotk127(SB), {t}, {t}")
                emit(f"\tVPAND ·dotkFF(SB), {t}, {t}")
            emit("\tVPACKUSDW Y5, Y4, Y4")
            emit("\tVPACKUSDW Y7, Y6, Y6")
            emit("\tVPACKUSWB Y6, Y4, Y4")
            emit("\tVPERMD Y4, Y11, Y4")
            emit(f"\tVMOVDQU Y4, {4 + 32 * ch}(DI)")
            emit("\tVPMADDUBSW Y4, Y9, Y4")
            emit(f"\tVPMADDWD Y10, Y4, Y{12 + k}")
        emit("\tVPHADDD Y13, Y12, Y12")
        emit("\tVPHADDD Y15, Y14, Y14")
        emit("\tVPHADDD Y14, Y12, Y12")
        emit(f"\tVPERMD Y12, Y11, {'Y2' if h == 0 else 'Y12'}")
    emit("\tVPACKSSDW Y12, Y2, Y2")
    emit("\tVPERMQ $0xD8, Y2, Y2")
    emit("\tVMOVDQU Y2, 260(DI)")
    emit("qnext:")
    emit("\tADDQ $1024, SI")
    emit("\tADDQ $292, DI")
    emit("\tDECQ CX")
    emit("\tJNZ qblock")
    emit("qdone:")
    emit("\tVZEROUPPER")
    emit("\tRET")
    emit("qzero:")
    emit("\tVXORPS Y0, Y0, Y0")
    for o in range(0, 288, 32):
        emit(f"\tVMOVDQU Y0, {o}(DI)")
    emit("\tMOVL $0, 288(DI)")
    emit("\tJMP qnext")


# the constants each type keeps in registers where it has them free, the
# most loads saved first
REG_CONSTS = {"Q4_K": ["dotkK4Shuf+0", "dotkK4Shuf+32", "dotkK4Shuf+64"],
              "Q5_K": ["dotk0x10", "dotkK4Shuf+0"],  # Y11: the lone row's qh
              "Q6_K": ["dotk0x30", "dotkK4Shuf+0", "dotkK4Shuf+32"],
              "Q2_K": ["dotkK6Shuf+0", "dotkK6Shuf+32", "dotkK6Shuf+64"],
              "Q3_K": ["dotk0x04", "dotkK6Shuf+0"],  # Y11: the lone row's hmask
              "Q2_Kp": ["dotkLow4W"], "Q3_Kp": ["dotk0x03", "dotk0x04"]}
CONSTS = {}


def k(name):
    """Constant name as an operand: its register, or its memory."""
    if name in CONSTS:
        return f"Y{CONSTS[name]}"
    return f"·{name}(SB)"


# where each type's d (and dmin) lie in its block: offset, pair
D_AT = {"Q4_K": (0, True, True), "Q5_K": (0, True, True), "Q2_K": (80, True), "Q6_K": (208, False), "Q3_K": (108, False),
        "Q6_Kp": (208, False), "Q6_Kv": (208, False), "Q2_Kp": (80, True),
        "Q3_Kp": (108, False)}

# name, block bytes, body, the byte in Y7
TYPES = [("Q4_K", 144, q4_k, 0x0F), ("Q5_K", 176, q5_k, 0x0F), ("Q6_K", 210, q6_k, 0x0F),
         ("Q2_K", 84, q2_k, 0x03), ("Q3_K", 110, q3_k, 0x03)]
# packed layouts (packings): their kernels go to dotkPackedAVX2
PACKED_TYPES = [("Q6_Kp", 210, q6_kp, 0x3F), ("Q2_Kp", 84, q2_kp, 0x03), ("Q3_Kp", 110, q3_kp, 0x07)]
# packed Q2_K's, Q3_K's and Q6_K's GFNI twins (dotkPackedGFNI; Q6_K's
# with VNNI's sums too): the same bytes, so the same bits
GFNI_TYPES = [("Q2_Kg", 84, q2_kp, 0x03), ("Q3_Kg", 110, q3_kp, 0x07),
              ("Q6_Kg", 210, lambda R, C, c: q6_kp(R, C, c, vnni=True), 0x3F)]
GFNI_NAMES = {t[0] for t in GFNI_TYPES}
for t, _, _, _ in GFNI_TYPES:
    D_AT[t] = D_AT[t[:-1] + "p"]
    REG_CONSTS[t] = REG_CONSTS.get(t[:-1] + "p", [])
# their AVX-512 VNNI twins (dotkPackedVNNI): the same integers, so the same bits
VNNI_TYPES = [("Q6_Kv", 210, lambda R, C, c: q6_kp(R, C, c, vnni=True), 0x3F)]
# the stored types' VNNI twins (dotkVNNI; Q6_K is packed wherever it runs)
STORED_VNNI_TYPES = [(t + "v", bb, lambda R, C, c, body=body: body(R, C, c, vnni=True), mask)
                     for t, bb, body, mask in TYPES if t != "Q6_K"]
for t, *_ in STORED_VNNI_TYPES:
    D_AT[t] = D_AT[t[:-1]]
    REG_CONSTS[t] = REG_CONSTS[t[:-1]]

ARGS = "out *float32, ldo int, x *byte, ldx int, w *byte, ldw int, nb int"


def kernel(tname, bb, body, mask, R, C, strided=False, columns=1):
    """columns > 1: the R×C kernel repeated over that many columns in one
    call (named R×columns), saving the calls and their set-up; the column
    count, out and the column's weights live in the frame from LOOP_OFF.
    A lone row's four columns share their d products (shared_d)."""
    global SHARE, GFNI
    SHARE = R == 1 and C == 4
    GFNI = tname in GFNI_NAMES
    name = f"dotk{tname}x{R}x{C * columns}" + ("s" if strided else "")
    emit(f"\n// func {name}({ARGS})")
    frame = ACC_OFF + 32 * R * C if spilled(R, C) else 32
    if SHARE:
        frame = BB_OFF + 32
    loop_off = frame
    if columns > 1:
        frame += 24
    emit(f"TEXT ·{name}(SB), NOSPLIT, ${frame}-56")
    emit("\tMOVQ ldx+24(FP), BX")
    emit("\tLEAQ (BX)(BX*2), R12")
    emit("\tMOVQ w+32(FP), SI")
    emit("\tMOVQ ldw+40(FP), R13")
    emit("\tLEAQ (R13)(R13*2), R14")
    if columns > 1:
        emit(f"\tMOVQ ${columns}, {loop_off}(SP)")
        emit("\tMOVQ out+0(FP), AX")
        emit(f"\tMOVQ AX, {loop_off + 8}(SP)")
        emit(f"\tMOVQ SI, {loop_off + 16}(SP)")
        emit("column:")
    emit("\tMOVQ x+16(FP), DI")
    if R > 4:
        emit("\tLEAQ (DI)(BX*4), R9")
    emit("\tMOVQ nb+48(FP), CX")
    if strided:
        # R8 walks the row PF_ROWS further on in each stream, which the
        # call PF_ROWS later reads: a stream read from a chunk of a few
        # rows is gone before the hardware prefetcher has learnt it
        emit(f"\tIMUL3Q ${bb * PF_ROWS}, CX, R8")
        emit("\tADDQ SI, R8")
    else:
        # R8 walks the rows the next call will read (C rows further on): a
        # decode row is a few cache lines per weight row, too short for the
        # hardware prefetchers to learn.
        emit(f"\tLEAQ {['(SI)(R13*2)', '(SI)(R13*4)', '', '(SI)(R13*8)'][C - 1]}, R8")
    if spilled(R, C):
        emit("\tVXORPS Y0, Y0, Y0")
        for i in range(R * C):
            emit(f"\tVMOVUPS Y0, {ACC_OFF + 32 * i}(SP)")
    emit(f"\tMOVL ${mask * 0x01010101:#x}, AX")
    emit("\tVMOVD AX, X7")
    emit("\tVPBROADCASTD X7, Y7")
    global CONSTS
    CONSTS = {}
    if R <= 3:
        # Y8+R..Y11, which no int32 sum takes
        for i, name in enumerate(REG_CONSTS.get(tname, [])[:4 - R]):
            CONSTS[name] = 8 + R + i
            emit(f"\tVMOVDQU ·{name}(SB), Y{CONSTS[name]}")
    gf_at = len(out)  # where the matrices the body takes are loaded
    GF_USED.clear()
    for r in range(R):
        for c in range(C):
            if not spilled(R, C):
                a = acc(R, C, r, c)
                emit(f"\tVXORPS {a}, {a}, {a}")
    emit("\tTESTQ CX, CX")
    emit("\tJZ done")
    emit("loop:")
    if SHARE:
        shared_d(*D_AT[tname])
    for c in range(C):
        for off in range(0, bb, 64):
            emit(f"\tPREFETCHT0 {W(c, off).replace('SI', 'R8')}")
        body(R, C, c)
    emit(f"\tADDQ ${bb}, SI")
    emit(f"\tADDQ ${bb}, R8")
    emit("\tADDQ $292, DI")
    if R > 4:
        emit("\tADDQ $292, R9")
    emit("\tDECQ CX")
    emit("\tJNZ loop")
    out[gf_at:gf_at] = [f"\tVMOVDQU64 ·dotkGF+{32 * (GF_REG[f] - 24)}(SB), Y{GF_REG[f]}" for f in sorted(GF_USED, key=GF_REG.get)]
    emit("done:")
    if columns > 1:
        emit(f"\tMOVQ {loop_off + 8}(SP), DI")
    else:
        emit("\tMOVQ out+0(FP), DI")
    emit("\tMOVQ ldo+8(FP), AX")
    emit("\tSHLQ $2, AX")
    for r in range(R):
        if r > 0:
            emit("\tADDQ AX, DI")
        for c in range(C):
            a = acc(R, C, r, c)
            if spilled(R, C):
                a = "Y12"
                emit(f"\tVMOVUPS {ACC_OFF + 32 * (r * C + c)}(SP), {a}")
            x = "X" + a[1:]
            emit(f"\tVEXTRACTF128 $1, {a}, X0")
            emit(f"\tVADDPS X0, {x}, {x}")
            emit(f"\tVHADDPS {x}, {x}, {x}")
            emit(f"\tVHADDPS {x}, {x}, {x}")
            if strided:
                emit(f"\tVMOVSS {x}, (DI)")
                emit("\tADDQ AX, DI")
            else:
                emit(f"\tVMOVSS {x}, {4 * c}(DI)")
    if columns > 1:
        emit(f"\tADDQ ${4 * C}, {loop_off + 8}(SP)")
        emit(f"\tMOVQ {loop_off + 16}(SP), SI")
        for _ in range(C):
            emit("\tADDQ R13, SI")
        emit(f"\tMOVQ SI, {loop_off + 16}(SP)")
        emit(f"\tDECQ {loop_off}(SP)")
        emit("\tJNZ column")
    emit("\tVZEROUPPER")
    emit("\tRET")


def table(name, data):
    for i, v in enumerate(data):
        emit(f"DATA ·{name}+{i}(SB)/1, ${v:#x}")
    emit(f"GLOBL ·{name}(SB), RODATA|NOPTR, ${len(data)}")


emit("")
Z = 0x80  # VPSHUFB's zero
table("dotkK4ScW", [v for k in range(8) for v in (k, Z)] * 2)
table("dotkK4MnW", [v for lane in range(2) for k in range(4) for v in (8 + 4 * lane + k, Z, 8 + 4 * lane + k, Z)])
# dotkK4Shuf entry i: word i of a lane (scale i) in all 16 words
for i in range(8):
    for b in range(32):
        emit(f"DATA ·dotkK4Shuf+{32 * i + b}(SB)/1, ${2 * i + b % 2}")
emit("GLOBL ·dotkK4Shuf(SB), RODATA|NOPTR, $256")
# dotkK6Shuf entry m: word 2m in the low lane, word 2m+1 in the high one
for m in range(4):
    for b in range(32):
        emit(f"DATA ·dotkK6Shuf+{32 * m + b}(SB)/1, ${4 * m + 2 * (b // 16) + b % 2}")
emit("GLOBL ·dotkK6Shuf(SB), RODATA|NOPTR, $128")
# dotkGF: the matrices of GF_FIELDS, 32 bytes each
for i, f in enumerate(GF_FIELDS):
    for j in range(4):
        emit(f"DATA ·dotkGF+{32 * i + 8 * j}(SB)/8, ${gf_matrix(*f):#x}")
emit(f"GLOBL ·dotkGF(SB), RODATA|NOPTR, ${32 * len(GF_FIELDS)}")
# k4_scales_vec's shift counts and the mask of the bits its first operand gives
for name, vals in (("dotkK4Sh1", (0, 0, 0, 4)), ("dotkK4Sh2", (32, 2, 32, 2)),
                   ("dotkK4Low", (0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F)), ("dotk0x3F", (0x3F3F3F3F,) * 4)):
    for i, v in enumerate(vals):
        emit(f"DATA ·{name}+{4 * i}(SB)/4, ${v:#x}")
    emit(f"GLOBL ·{name}(SB), RODATA|NOPTR, $16")
# dotkQ3Shift: dword k of Q3_K's high scale bits shifts right by 2k
for i in range(4):
    emit(f"DATA ·dotkQ3Shift+{4 * i}(SB)/4, ${2 * i}")
emit("GLOBL ·dotkQ3Shift(SB), RODATA|NOPTR, $16")
# dotkK6EvenOdd puts Q6_K's even scales before its odd ones
table("dotkK6EvenOdd", list(range(0, 16, 2)) + list(range(1, 16, 2)))
for name, v in (("dotk0x30", 0x30303030), ("dotk0x10", 0x10101010), ("dotk0x04", 0x04040404), ("dotk0x03", 0x03030303), ("dotk0x0F", 0x0F0F0F0F),
                ("dotkLow4W", 0x000F000F), ("dotk32B", 0x20202020)):
    for i in range(8):
        emit(f"DATA ·{name}+{4 * i}(SB)/4, ${v:#x}")
    emit(f"GLOBL ·{name}(SB), RODATA|NOPTR, $32")

for name, v in (("dotkOnes8", 0x01010101), ("dotkOnes16", 0x00010001), ("dotkAbs", 0x7FFFFFFF),
                ("dotkMagic", 0x4B400000), ("dotkMant", 0x007FFFFF), ("dotkHalf", 0x00400000),
                ("dotk127", 127), ("dotkFF", 0xFF)):
    for i in range(8):
        emit(f"DATA ·{name}+{4 * i}(SB)/4, ${v:#x}")
    emit(f"GLOBL ·{name}(SB), RODATA|NOPTR, $32")
# dotkPerm puts the dwords of VPACK*'s lane-wise halves back in order
for i, v in enumerate((0, 4, 1, 5, 2, 6, 3, 7)):
    emit(f"DATA ·dotkPerm+{4 * i}(SB)/4, ${v}")
emit("GLOBL ·dotkPerm(SB), RODATA|NOPTR, $32")
emit("DATA ·dotkMinus127+0(SB)/4, $0xC2FE0000")
emit("GLOBL ·dotkMinus127(SB), RODATA|NOPTR, $4")
emit("DATA ·dotkOne+0(SB)/4, $0x3F800000")
emit("GLOBL ·dotkOne(SB), RODATA|NOPTR, $4")

for t in TYPES + PACKED_TYPES + VNNI_TYPES + STORED_VNNI_TYPES + GFNI_TYPES:
    for R, C in SHAPES:
        kernel(*t, R, C)
    kernel(*t, 1, 4, strided=True)
    kernel(*t, 8, 1)
    kernel(*t, 8, 1, columns=4)
quantizer()

hdr = "//go:build goexperiment.simd && amd64\n\n// Code generated by gen_dotk.py; DO NOT EDIT.\n\n"
with open("dotk_amd64.s", "w") as f:
    f.write(hdr + '#include "textflag.h"\n' + "\n".join(out) + "\n")

go = [hdr + "package kernel\n", 'import "github.com/graft-ai/graft/engine/gguf"\n']
for t in TYPES + PACKED_TYPES + VNNI_TYPES + STORED_VNNI_TYPES + GFNI_TYPES:
    for R, C in SHAPES:
        go.append(f"//go:noescape\nfunc dotk{t[0]}x{R}x{C}({ARGS})\n")
    go.append(f"//go:noescape\nfunc dotk{t[0]}x1x4s({ARGS})\n")
    go.append(f"//go:noescape\nfunc dotk{t[0]}x8x1({ARGS})\n")
    go.append(f"//go:noescape\nfunc dotk{t[0]}x8x4({ARGS})\n")
go.append("//go:noescape\nfunc quantQ8K(dst *byte, x *float32, nb int)\n")
go.append("// dotkAVX2 holds, per type, the kernels of the shapes " + " ".join(f"{R}×{C}" for R, C in SHAPES) + ", the strided 1×4, 8×1 and 8×4.")
go.append("var dotkAVX2 = map[gguf.Type]*dotkSet{")
assert SHAPES == [(1, 4), (1, 1), (2, 2), (2, 1), (3, 1), (4, 1)]  # dotkSet's order
for t in TYPES:
    fns = ", ".join([f"dotk{t[0]}x{R}x{C}" for R, C in SHAPES] + [f"dotk{t[0]}x1x4s", f"dotk{t[0]}x8x1", f"dotk{t[0]}x8x4"])
    go.append(f"\tgguf.Type{t[0]}: {{{fns}}},")
go.append("}\n")
go.append("// dotkPackedAVX2 holds the kernels of packed layouts (packings), as dotkAVX2.")
go.append("var dotkPackedAVX2 = map[gguf.Type]*dotkSet{")
for t in PACKED_TYPES:
    fns = ", ".join([f"dotk{t[0]}x{R}x{C}" for R, C in SHAPES] + [f"dotk{t[0]}x1x4s", f"dotk{t[0]}x8x1", f"dotk{t[0]}x8x4"])
    go.append(f"\tgguf.Type{t[0][:-1]}: {{{fns}}},")
go.append("}\n")
for var, doc, types in (("dotkPackedVNNI", "their AVX-512 VNNI twins", VNNI_TYPES),
                        ("dotkVNNI", "the AVX-512 VNNI twins of dotkAVX2's sets but Q6_K's", STORED_VNNI_TYPES),
                        ("dotkPackedGFNI", "packed Q2_K's, Q3_K's and Q6_K's twins that take bit fields with GFNI", GFNI_TYPES)):
    go.append(f"// {var} holds {doc}, as dotkAVX2.")
    go.append(f"var {var} = map[gguf.Type]*dotkSet{{")
    for t in types:
        fns = ", ".join([f"dotk{t[0]}x{R}x{C}" for R, C in SHAPES] + [f"dotk{t[0]}x1x4s", f"dotk{t[0]}x8x1", f"dotk{t[0]}x8x4"])
        go.append(f"\tgguf.Type{t[0][:-1]}: {{{fns}}},")
    go.append("}\n")
with open("dotk_kernels_amd64.go", "w") as f:
    f.write("\n".join(go).rstrip("\n") + "\n")
