# Writes f32tiles_amd64.s and f32tiles_amd64.go: the AVX-512 float32 MatMul
# register tiles in Go assembly. The Go compiler's SIMD support has only the
# 213 form of FMA (the product's first operand is overwritten) and 15 usable
# Z registers, so compiled tiles spend most of their issue slots on register
# copies; assembly has 231 FMA (accumulate in place), memory operands and all
# 32 registers. Each tile keeps, per dot, the recipe of f32x16One: one 16-lane
# accumulator from zero, FMA over the full 16-blocks in order, one unmasked
# FMA of zero-filled masked loads for the tail, then reduce16's horizontal
# sum (lo+hi halves twice, then the pairwise sums of two VHADDPS, vectorized
# over four dots), so that each output has the bits Dot would give.
#
# Usage: python3 gen_asm.py ROWS COLS WIDE
#   ROWS x COLS is the block shape (tiles of 1..ROWS rows are emitted);
#   WIDE is the column count of the one-row kernel used for decode.
import sys
R, C, WIDE = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
assert C % 4 == 0 and WIDE % 4 == 0 and R * C + C <= 28 and WIDE + 1 <= 32 and R <= 6 and max(C, WIDE) <= 9

XB, WB = ["SI", "R10"], ["DX", "R11", "R12"]


def addr(bases, stride, i, masked=False):
    b, s = bases[i // 3], i % 3
    return f"({b})" if s == 0 else f"({b})({stride}*{s})"


def body(rows, cols, masked):
    L = []
    ld = "VMOVUPS.Z" if masked else "VMOVUPS"
    k = ", K1" if masked else ""
    acc = lambda r, c: f"Z{r * cols + c}"
    if rows == 1 and not masked:
        # One x row: fold the weight loads into the FMAs.
        L.append(f"\tVMOVUPS {addr(XB, 'R8', 0)}, Z31")
        for c in range(cols):
            L.append(f"\tVFMADD231PS {addr(WB, 'R9', c)}, Z31, {acc(0, c)}")
        return L
    wreg = lambda c: f"Z{rows * cols + c}" if rows > 1 else "Z30"
    if rows == 1:
        L.append(f"\t{ld} {addr(XB, 'R8', 0)}{k}, Z31")
        for c in range(cols):
            L.append(f"\t{ld} {addr(WB, 'R9', c)}{k}, Z30")
            L.append(f"\tVFMADD231PS Z30, Z31, {acc(0, c)}")
        return L
    for c in range(cols):
        L.append(f"\t{ld} {addr(WB, 'R9', c)}{k}, {wreg(c)}")
    for r in range(rows):
        L.append(f"\t{ld} {addr(XB, 'R8', r)}{k}, Z31")
        for c in range(cols):
            L.append(f"\tVFMADD231PS {wreg(c)}, Z31, {acc(r, c)}")
    return L


def reduce(rows, cols):
    # reduce16 for four accumulators a, b, c, d of a row at once: pair the
    # 256-bit halves ([a.lo b.lo] + [a.hi b.hi] gives both lo+hi), then the
    # 128-bit quarters, then within each quarter add the lane pairs and the
    # pair sums as VHADDPS twice does. Each sum lands in lane 0 of its
    # quarter and one compress-store writes the four.
    L = ["\tMOVQ out+0(FP), R13", "\tMOVQ ldo+8(FP), AX", "\tSHLQ $2, AX",
         "\tMOVL $0x1111, BX", "\tKMOVW BX, K2"]
    for r in range(rows):
        for g in range(0, cols, 4):
            a, b, c, d = (f"Z{r * cols + g + j}" for j in range(4))
            L += [f"\tVSHUFF64X2 $0x44, {b}, {a}, Z28", f"\tVSHUFF64X2 $0xEE, {b}, {a}, Z29",
                  "\tVADDPS Z29, Z28, Z28",
                  f"\tVSHUFF64X2 $0x44, {d}, {c}, Z30", f"\tVSHUFF64X2 $0xEE, {d}, {c}, Z29",
                  "\tVADDPS Z29, Z30, Z30",
                  "\tVSHUFF32X4 $0x88, Z30, Z28, Z29", "\tVSHUFF32X4 $0xDD, Z30, Z28, Z31",
                  "\tVADDPS Z31, Z29, Z29",
                  "\tVPERMILPS $0xB1, Z29, Z30", "\tVADDPS Z30, Z29, Z29",
                  "\tVPERMILPS $0x4E, Z29, Z30", "\tVADDPS Z30, Z29, Z29",
                  f"\tVCOMPRESSPS Z29, K2, {4 * g}(R13)"]
        if r < rows - 1:
            L.append("\tADDQ AX, R13")
    return L


def asm(name, rows, cols):
    L = [f"// func {name}(out *float32, ldo int, x *float32, ldx int, w *float32, ldw int, n int)",
         f"TEXT ·{name}(SB), NOSPLIT, $0-56",
         "\tMOVQ x+16(FP), SI", "\tMOVQ ldx+24(FP), R8",
         "\tMOVQ w+32(FP), DX", "\tMOVQ ldw+40(FP), R9", "\tMOVQ n+48(FP), CX",
         "\tSHLQ $2, R8", "\tSHLQ $2, R9"]
    ptrs = ["SI", "DX"]
    if rows > 3:
        L += ["\tLEAQ (SI)(R8*2), R10", "\tADDQ R8, R10"]
        ptrs.append("R10")
    if cols > 3:
        L += ["\tLEAQ (DX)(R9*2), R11", "\tADDQ R9, R11"]
        ptrs.append("R11")
    if cols > 6:
        L += ["\tLEAQ (R11)(R9*2), R12", "\tADDQ R9, R12"]
        ptrs.append("R12")
    for i in range(rows * cols):
        L.append(f"\tVPXORD Z{i}, Z{i}, Z{i}")
    L += ["\tMOVQ CX, BX", "\tSHRQ $4, BX", "\tJZ tail"]
    L.append("loop:")
    L += body(rows, cols, False)
    L += [f"\tADDQ $64, {p}" for p in ptrs]
    L += ["\tDECQ BX", "\tJNZ loop"]
    L += ["tail:", "\tANDQ $15, CX", "\tJZ done",
          "\tMOVL $1, AX", "\tSHLL CX, AX", "\tDECL AX", "\tKMOVW AX, K1"]
    L += body(rows, cols, True)
    L.append("done:")
    L += reduce(rows, cols)
    L += ["\tVZEROUPPER", "\tRET"]
    return "\n".join(L) + "\n"


def wrapper(name, rows, cols):
    fn = f"f32x16Tile{rows}x{cols}"
    return f"""
func {name}(out []float32, ldo int, x []float32, ldx int, w []float32, ldw, n int) {{
	_, _, _ = out[:{rows - 1}*ldo+{cols}], x[:{rows - 1}*ldx+n], w[:{cols - 1}*ldw+n]
	{fn}(unsafe.SliceData(out), ldo, unsafe.SliceData(x), ldx, unsafe.SliceData(w), ldw, n)
}}
"""


shapes = [(r, C) for r in range(1, R + 1)]
if (1, WIDE) not in shapes:
    shapes.append((1, WIDE))
hdr = f"// Code generated by gen_asm.py {R} {C} {WIDE}; DO NOT EDIT.\n\n"
s = "//go:build goexperiment.simd && amd64\n\n" + hdr + '#include "textflag.h"\n'
for r, c in shapes:
    s += "\n" + asm(f"f32x16Tile{r}x{c}", r, c)
open("f32tiles_amd64.s", "w").write(s)

g = "//go:build goexperiment.simd && amd64\n\n" + hdr + "package kernel\n\nimport \"unsafe\"\n\n"
g += f"// The float32 block is {R}×{C}; single rows (decode) use a 1×{WIDE} tile so\n"
g += "// that more weight rows stream from memory at once.\n"
g += f"const f32Rows16, f32Cols16, f32Wide16 = {R}, {C}, {WIDE}\n\n"
g += "// The assembly tiles compute r×c dots into out; ldo, ldx and ldw are\n"
g += "// strides in elements. Callers check the ranges.\n"
for r, c in shapes:
    g += f"\n//go:noescape\nfunc f32x16Tile{r}x{c}(out *float32, ldo int, x *float32, ldx int, w *float32, ldw int, n int)\n"
g += f"\n// f32x16Tiles[r-1] computes r×{C} dots.\n"
g += "var f32x16Tiles = []func(out []float32, ldo int, x []float32, ldx int, w []float32, ldw, n int){\n"
g += "".join(f"\tf32x16Block{r}x{C},\n" for r in range(1, R + 1)) + "}\n"
for r, c in shapes:
    g += wrapper(f"f32x16Block{r}x{c}", r, c)
g += f"""
// f32x16Wide computes the dots of one x row with {WIDE} w rows.
func f32x16Wide(out, x []float32, w []float32, ldw, n int) {{
	f32x16Block1x{WIDE}(out, 0, x, 0, w, ldw, n)
}}
"""
open("f32tiles_amd64.go", "w").write(g)
