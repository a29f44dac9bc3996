#!/usr/bin/env python3
"""Writes halfdot_amd64.s and halfdot_amd64.go: the AVX2 decode tiles for
half weights, one float32 x row against 8 F16 or BF16 weight rows, and
the same tiles for F32 weights (loaded as they are, the n%8 tail by a
masked load like x's).

They keep the AVX2 float32 recipe bit for bit (gen_asm_avx2.py, and the
archsimd tiles of f16_avx2_amd64.go they replace for a lone row): one
8-lane accumulator per dot from zero, one FMA per 8-group of k in
ascending order, the last n%8 weights and x zero-filled in one more FMA,
then lo+hi and two VHADDPS. A half is widened exactly: F16 with F16C's
VCVTPH2PS (exact for every finite half, subnormals included; weights are
checked finite on load), BF16 by a zero-extend and a 16-bit shift.

What they change is the memory side. A tile takes 8 rows ldw halves
apart and writes their dots ldo floats apart. halfDot{T}x1x8 is for 8
adjacent rows (ldw = n): a decode row is 768 or 2048 halves, 24 to 64
cache lines, too short for the hardware prefetchers to ramp up, so the
loop steps 32 halves (one line of each of the 8 rows) and, for each row,
prefetches the line pf bytes further on into L1 (PREFETCHT0) and 2*pf on
into L2 (PREFETCHT1): with pf 16 rows those are the tiles two and four
calls later (that pair beat one PREFETCHT0 8, 16 or 32 rows on, by 3-8%).
halfDot{T}x1x8s has no prefetch: it takes one row from each eighth of a
range (ldw = an eighth), eight streams that the hardware prefetchers
follow, and there software prefetch 1 to 4 rows ahead in each stream
cost 14-28% (halfStreams in f16_avx2_amd64.go). A prefetch never faults,
so running past the matrix is harmless.

The tail reads the last 16 bytes of each row (in bounds since n >= 8) and
moves the n%8 wanted halves to the front with VPSHUFB, zeroing the rest:
no read past a row, and the same zero-filled 8-group the archsimd tail
loads. The Go side sends n < 8 to the archsimd tiles.
"""

ROWS = 8
# The 8 weight row pointers; SI walks x, R10 holds the prefetch distance.
RR = ["AX", "DX", "DI", "R8", "R11", "R12", "R13", "R14"]

out = []
emit = out.append


def width(kind):
    """Bytes of one weight."""
    return 4 if kind == "F32" else 2


def widen(kind, src, t, v="Y", mask=""):
    """Widens 8 halves (16 with v "Z") at src (memory or an X register)
    into {v}{t}, masked and zeroing with mask; F32 weights are loaded as
    they are."""
    z, m = (".Z", f"{mask}, ") if mask else ("", "")
    if kind == "F32":
        emit(f"\tVMOVUPS{z} {src}, {m}{v}{t}")
    elif kind == "F16":
        emit(f"\tVCVTPH2PS{z} {src}, {m}{v}{t}")
    else:
        emit(f"\tVPMOVZXWD{z} {src}, {m}{v}{t}")
        emit(f"\tVPSLLD $16, {v}{t}, {v}{t}")


def group(kind, k, prefetch, v="Y"):
    """One 8-group (16 with v "Z") of k at element k of the rows and x."""
    off = k * width(kind)
    emit(f"\tVMOVUPS {4 * k}(SI), {v}8")
    for r in range(ROWS):
        t = 9 + r % 7
        if prefetch:
            emit(f"\tPREFETCHT1 {off}({RR[r]})(R10*2)")
            emit(f"\tPREFETCHT0 {off}({RR[r]})(R10*1)")
        widen(kind, f"{off}({RR[r]})", t, v)
        emit(f"\tVFMADD231PS {v}{t}, {v}8, {v}{r}")


def prologue(name, kind, v):
    """A tile's head: the row pointers, the prefetch distance in R10, the
    accumulators ({v}0-{v}7) zeroed, and BX = n."""
    emit(f"\n// func {name}({args(kind)})")
    emit(f"TEXT ·{name}(SB), NOSPLIT, $0-56")
    emit("\tMOVQ x+16(FP), SI")
    emit("\tMOVQ w+24(FP), AX")
    emit("\tMOVQ ldw+32(FP), R10")
    emit("\tMOVQ n+40(FP), CX")
    emit(f"\tSHLQ ${width(kind) // 2}, R10")
    for r in range(1, ROWS):
        emit(f"\tLEAQ ({RR[r - 1]})(R10*1), {RR[r]}")
    emit("\tMOVQ pf+48(FP), R10")
    for r in range(ROWS):
        emit(f"\tVXORPS {v}{r}, {v}{r}, {v}{r}")
    emit("\tMOVQ CX, BX")


def advance(kind, k):
    """Moves x and the rows on by k elements."""
    emit(f"\tADDQ ${4 * k}, SI")
    for reg in RR:
        emit(f"\tADDQ ${k * width(kind)}, {reg}")


def args(kind):
    w = "float32" if kind == "F32" else "uint16"
    return f"out *float32, ldo int, x *float32, w *{w}, ldw int, n int, pf int"


def kernel(kind, pf):
    """Row r is r*ldw halves on from w, its dot goes to out[r*ldo]."""
    name = f"halfDot{kind}x1x8" + ("" if pf else "s")
    prologue(name, kind, "Y")
    emit("\tSHRQ $5, BX")
    emit("\tJZ rest")
    emit("loop:")
    for j in range(4):
        group(kind, 8 * j, pf and 8 * j * width(kind) % 64 == 0)
    advance(kind, 32)
    emit("\tDECQ BX")
    emit("\tJNZ loop")
    emit("rest:")  # the 8-groups after the last whole line
    emit("\tMOVQ CX, BX")
    emit("\tANDQ $31, BX")
    emit("\tSHRQ $3, BX")
    emit("\tJZ tail")
    emit("loop8:")
    group(kind, 0, False)
    advance(kind, 8)
    emit("\tDECQ BX")
    emit("\tJNZ loop8")
    emit("tail:")
    emit("\tANDQ $7, CX")
    emit("\tJZ done")
    emit("\tLEAQ ·tailMask8+32(SB), BX")
    emit("\tLEAQ (CX*4), R10")
    emit("\tSUBQ R10, BX")
    emit("\tVMOVDQU (BX), Y15")
    emit("\tVMASKMOVPS (SI), Y15, Y8")
    if kind == "F32":
        for r in range(ROWS):
            t = 9 + r % 6
            emit(f"\tVMASKMOVPS ({RR[r]}), Y15, Y{t}")
            emit(f"\tVFMADD231PS Y{t}, Y8, Y{r}")
        reduce_rows()
        return
    # halfTailShuf[16-2t:32-2t] moves the last 2t bytes of 16 to the front
    emit("\tSHLQ $1, CX")
    emit("\tLEAQ ·halfTailShuf+16(SB), BX")
    emit("\tSUBQ CX, BX")
    emit("\tVMOVDQU (BX), X15")
    emit("\tSUBQ $16, CX")
    for reg in RR:
        emit(f"\tADDQ CX, {reg}")
    for r in range(ROWS):
        t = 9 + r % 6
        emit(f"\tVMOVDQU ({RR[r]}), X{t}")
        emit(f"\tVPSHUFB X15, X{t}, X{t}")
        widen(kind, f"X{t}", t)
        emit(f"\tVFMADD231PS Y{t}, Y8, Y{r}")
    reduce_rows()


def reduce_rows(wide=False):
    """Each accumulator's lanes summed (16 lanes with wide: reduce16's
    lo+hi first), stored ldo floats apart."""
    emit("done:")
    emit("\tMOVQ out+0(FP), BX")
    emit("\tMOVQ ldo+8(FP), R9")
    emit("\tSHLQ $2, R9")
    for r in range(ROWS):
        if wide:
            emit(f"\tVEXTRACTF64X4 $1, Z{r}, Y15")
            emit(f"\tVADDPS Y15, Y{r}, Y{r}")
        emit(f"\tVEXTRACTF128 $1, Y{r}, X15")
        emit(f"\tVADDPS X15, X{r}, X{r}")
        emit(f"\tVHADDPS X{r}, X{r}, X{r}")
        emit(f"\tVHADDPS X{r}, X{r}, X{r}")
        emit(f"\tVMOVSS X{r}, (BX)")
        if r < ROWS - 1:
            emit("\tADDQ R9, BX")
    emit("\tVZEROUPPER")
    emit("\tRET")


# The AVX-512 tiles (suffix z): the same memory side with 16 lanes, keeping
# the AVX-512 float32 recipe of simd_amd64.go bit for bit (f32x16One and the
# tiles): one 16-lane accumulator per dot from zero, one FMA per 16-group of
# k in ascending order, the last n%16 weights and x zero-filled (a masked
# load: no byte past a row is read, and any n works) in one more FMA, then
# reduce16's lo+hi, lo+hi and two VHADDPS. At that level F16 weights were
# widened into panels even for a lone row (the 8-lane F16 tiles do not
# follow the 16-lane recipe): a decode read them at 39% of the bound on an
# Emerald Rapids host, 0.55x llama.cpp.


def kernel_z(kind, pf):
    """kernel's 16-lane twin: any n ≥ 0."""
    name = f"halfDot{kind}x1x8z" + ("" if pf else "s")
    line = 64 // width(kind)  # elements of one cache line of a row
    prologue(name, kind, "Z")
    emit(f"\tSHRQ ${line.bit_length() - 1}, BX")
    emit("\tJZ zrest")
    emit("zloop:")
    for j in range(line // 16):
        group(kind, 16 * j, pf and 16 * j * width(kind) % 64 == 0, "Z")
    advance(kind, line)
    emit("\tDECQ BX")
    emit("\tJNZ zloop")
    emit("zrest:")  # the 16-groups after the last whole line
    emit("\tMOVQ CX, BX")
    emit(f"\tANDQ ${line - 1}, BX")
    emit("\tSHRQ $4, BX")
    emit("\tJZ ztail")
    emit("zloop16:")
    group(kind, 0, False, "Z")
    advance(kind, 16)
    emit("\tDECQ BX")
    emit("\tJNZ zloop16")
    emit("ztail:")
    emit("\tANDQ $15, CX")
    emit("\tJZ done")
    emit("\tMOVL $1, BX")
    emit("\tSHLL CX, BX")
    emit("\tDECL BX")
    emit("\tKMOVW BX, K1")
    emit("\tVMOVUPS.Z (SI), K1, Z8")
    for r in range(ROWS):
        t = 9 + r % 6
        widen(kind, f"({RR[r]})", t, "Z", "K1")
        emit(f"\tVFMADD231PS Z{t}, Z8, Z{r}")
    reduce_rows(wide=True)


KINDS = ["F16", "BF16", "F32"]
ZKINDS = ["F16", "BF16"]


def main():
    emit("//go:build goexperiment.simd && amd64")
    emit("")
    emit("// Code generated by gen_halfdot.py; DO NOT EDIT.")
    emit("")
    emit('#include "textflag.h"')
    emit("")
    emit("// halfTailShuf: bytes 0-15 then 16 VPSHUFB zeroing indices.")
    for i in range(0, 32, 8):
        v = sum((i + b if i + b < 16 else 0x80) << (8 * b) for b in range(8))
        emit(f"DATA ·halfTailShuf+{i}(SB)/8, $0x{v:016x}")
    emit("GLOBL ·halfTailShuf(SB), RODATA|NOPTR, $32")
    for kind in KINDS:
        kernel(kind, True)
        kernel(kind, False)
    for kind in ZKINDS:
        kernel_z(kind, True)
        kernel_z(kind, False)
    src = "\n".join(out) + "\n"
    with open("halfdot_amd64.s", "w") as f:
        f.write(src)
    go = ["//go:build goexperiment.simd && amd64", "",
          "// Code generated by gen_halfdot.py; DO NOT EDIT.", "", "package kernel", ""]
    for kind in KINDS:
        go += [f"// halfDot{kind}x1x8 computes out[c*ldo] = x·w[c*ldw:c*ldw+n] for c < 8, n >= 8,",
               "// prefetching pf and 2*pf bytes beyond each row.",
               "//", "//go:noescape", f"func halfDot{kind}x1x8({args(kind)})", "",
               f"// halfDot{kind}x1x8s is halfDot{kind}x1x8 without prefetches, for rows far apart.",
               "//", "//go:noescape", f"func halfDot{kind}x1x8s({args(kind)})", ""]
    for kind in ZKINDS:
        go += [f"// halfDot{kind}x1x8z is halfDot{kind}x1x8 with AVX-512's 16-lane recipe, for any n >= 0.",
               "//", "//go:noescape", f"func halfDot{kind}x1x8z({args(kind)})", "",
               f"// halfDot{kind}x1x8zs is halfDot{kind}x1x8z without prefetches, for rows far apart.",
               "//", "//go:noescape", f"func halfDot{kind}x1x8zs({args(kind)})", ""]
    with open("halfdot_amd64.go", "w") as f:
        f.write("\n".join(go))


main()
