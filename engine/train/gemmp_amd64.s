//go:build goexperiment.simd && amd64

#include "textflag.h"

// One k step of the 6×16 tile: two loads of the packed B row, six
// broadcasts of A (rows at SI, SI+rs, SI+2rs, R12, R12+rs, R12+2rs with
// R12 = SI+3rs) and twelve FMAs into Y0-Y11; then A moves on by ts.
#define STEP(bo) \
	VMOVUPS bo(DX), Y12 \
	VMOVUPS (bo+32)(DX), Y13 \
	VBROADCASTSS (SI), Y14 \
	VFMADD231PS Y12, Y14, Y0 \
	VFMADD231PS Y13, Y14, Y1 \
	VBROADCASTSS (SI)(R9*1), Y15 \
	VFMADD231PS Y12, Y15, Y2 \
	VFMADD231PS Y13, Y15, Y3 \
	VBROADCASTSS (SI)(R9*2), Y14 \
	VFMADD231PS Y12, Y14, Y4 \
	VFMADD231PS Y13, Y14, Y5 \
	VBROADCASTSS (R12), Y15 \
	VFMADD231PS Y12, Y15, Y6 \
	VFMADD231PS Y13, Y15, Y7 \
	VBROADCASTSS (R12)(R9*1), Y14 \
	VFMADD231PS Y12, Y14, Y8 \
	VFMADD231PS Y13, Y14, Y9 \
	VBROADCASTSS (R12)(R9*2), Y15 \
	VFMADD231PS Y12, Y15, Y10 \
	VFMADD231PS Y13, Y15, Y11 \
	ADDQ R13, SI \
	ADDQ R13, R12

// func tileKernel(out *float32, ldo int, a *float32, rs, ts int, b *float32, k int, acc int)
// out[r, j] (+)= Σ_t a[r·rs + t·ts]·b[t·16 + j] for r < 6, j < 16: the
// BLIS Haswell register tile over a packed B panel, A read in place with
// any strides (rows of A, or columns of it for AᵀB), k unrolled by four.
TEXT ·tileKernel(SB), NOSPLIT, $0-64
	MOVQ out+0(FP), DI
	MOVQ ldo+8(FP), R8
	MOVQ a+16(FP), SI
	MOVQ rs+24(FP), R9
	MOVQ ts+32(FP), R13
	MOVQ b+40(FP), DX
	MOVQ k+48(FP), CX
	MOVQ acc+56(FP), AX
	SHLQ $2, R8
	SHLQ $2, R9
	SHLQ $2, R13
	LEAQ (R9)(R9*2), R12
	ADDQ SI, R12
	TESTQ AX, AX
	JEQ zero
	MOVQ DI, R11
	VMOVUPS (R11), Y0
	VMOVUPS 32(R11), Y1
	ADDQ R8, R11
	VMOVUPS (R11), Y2
	VMOVUPS 32(R11), Y3
	ADDQ R8, R11
	VMOVUPS (R11), Y4
	VMOVUPS 32(R11), Y5
	ADDQ R8, R11
	VMOVUPS (R11), Y6
	VMOVUPS 32(R11), Y7
	ADDQ R8, R11
	VMOVUPS (R11), Y8
	VMOVUPS 32(R11), Y9
	ADDQ R8, R11
	VMOVUPS (R11), Y10
	VMOVUPS 32(R11), Y11
	JMP start
zero:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
start:
	MOVQ CX, BX
	SHRQ $2, BX
	ANDQ $3, CX
	TESTQ BX, BX
	JEQ tail
loop4:
	STEP(0)
	STEP(64)
	STEP(128)
	STEP(192)
	ADDQ $256, DX
	DECQ BX
	JNE loop4
tail:
	TESTQ CX, CX
	JEQ done
loop1:
	STEP(0)
	ADDQ $64, DX
	DECQ CX
	JNE loop1
done:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ R8, DI
	VMOVUPS Y2, (DI)
	VMOVUPS Y3, 32(DI)
	ADDQ R8, DI
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, 32(DI)
	ADDQ R8, DI
	VMOVUPS Y6, (DI)
	VMOVUPS Y7, 32(DI)
	ADDQ R8, DI
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, 32(DI)
	ADDQ R8, DI
	VMOVUPS Y10, (DI)
	VMOVUPS Y11, 32(DI)
	VZEROUPPER
	RET
