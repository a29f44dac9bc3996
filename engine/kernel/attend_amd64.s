//go:build goexperiment.simd && amd64

#include "textflag.h"

// The attention block kernels of attend_amd64.go. Their FMAs keep one
// accumulator per output lane and partial sum, in the order attend.go
// states, so they give the bits of the archsimd tails beside them.

// func attnScores16(s *float32, q *float32, kT *float32, ld int, hd4 int, groups int, rem int)
// scores 16·groups slots: four partial sums per lane over dimensions d ≡ m
// (mod 4), hd4 full steps of four then rem (< 4) more, (c0+c1)+(c2+c3).
TEXT ·attnScores16(SB), NOSPLIT, $0-56
	MOVQ s+0(FP), DI
	MOVQ q+8(FP), SI
	MOVQ kT+16(FP), DX
	MOVQ ld+24(FP), R8
	MOVQ hd4+32(FP), R9
	MOVQ groups+40(FP), R10
	MOVQ rem+48(FP), R13
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R11
	LEAQ (R8)(R8*1), R12
	SHLQ $1, R12
group:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ SI, AX
	MOVQ DX, BX
	MOVQ R9, CX
	TESTQ CX, CX
	JZ rest
dloop:
	VBROADCASTSS (AX), Y8
	VFMADD231PS (BX), Y8, Y0
	VFMADD231PS 32(BX), Y8, Y4
	VBROADCASTSS 4(AX), Y9
	VFMADD231PS (BX)(R8*1), Y9, Y1
	VFMADD231PS 32(BX)(R8*1), Y9, Y5
	VBROADCASTSS 8(AX), Y10
	VFMADD231PS (BX)(R8*2), Y10, Y2
	VFMADD231PS 32(BX)(R8*2), Y10, Y6
	VBROADCASTSS 12(AX), Y11
	VFMADD231PS (BX)(R11*1), Y11, Y3
	VFMADD231PS 32(BX)(R11*1), Y11, Y7
	ADDQ $16, AX
	ADDQ R12, BX
	DECQ CX
	JNZ dloop
rest:
	CMPQ R13, $1
	JLT reduce
	VBROADCASTSS (AX), Y8
	VFMADD231PS (BX), Y8, Y0
	VFMADD231PS 32(BX), Y8, Y4
	CMPQ R13, $2
	JLT reduce
	VBROADCASTSS 4(AX), Y9
	VFMADD231PS (BX)(R8*1), Y9, Y1
	VFMADD231PS 32(BX)(R8*1), Y9, Y5
	CMPQ R13, $3
	JLT reduce
	VBROADCASTSS 8(AX), Y10
	VFMADD231PS (BX)(R8*2), Y10, Y2
	VFMADD231PS 32(BX)(R8*2), Y10, Y6
reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VADDPS Y5, Y4, Y4
	VADDPS Y7, Y6, Y6
	VADDPS Y6, Y4, Y4
	VMOVUPS Y0, (DI)
	VMOVUPS Y4, 32(DI)
	ADDQ $64, DI
	ADDQ $64, DX
	DECQ R10
	JNZ group
	VZEROUPPER
	RET

// func attnValues64(o *float32, p *float32, v *float32, np int, hd int, chunks int)
// adds Σ_j p[j]·v[j·hd+d] to o[d] for 64·chunks dimensions: eight
// accumulators from zero while np ≥ 1 value rows stream by.
TEXT ·attnValues64(SB), NOSPLIT, $0-48
	MOVQ o+0(FP), DI
	MOVQ p+8(FP), SI
	MOVQ v+16(FP), DX
	MOVQ np+24(FP), R8
	MOVQ hd+32(FP), R9
	MOVQ chunks+40(FP), R10
	SHLQ $2, R9
chunk:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ SI, AX
	MOVQ DX, BX
	MOVQ R8, CX
jloop:
	VBROADCASTSS (AX), Y8
	VFMADD231PS 0(BX), Y8, Y0
	VFMADD231PS 32(BX), Y8, Y1
	VFMADD231PS 64(BX), Y8, Y2
	VFMADD231PS 96(BX), Y8, Y3
	VFMADD231PS 128(BX), Y8, Y4
	VFMADD231PS 160(BX), Y8, Y5
	VFMADD231PS 192(BX), Y8, Y6
	VFMADD231PS 224(BX), Y8, Y7
	ADDQ $4, AX
	ADDQ R9, BX
	DECQ CX
	JNZ jloop
	VADDPS 0(DI), Y0, Y0
	VMOVUPS Y0, 0(DI)
	VADDPS 32(DI), Y1, Y1
	VMOVUPS Y1, 32(DI)
	VADDPS 64(DI), Y2, Y2
	VMOVUPS Y2, 64(DI)
	VADDPS 96(DI), Y3, Y3
	VMOVUPS Y3, 96(DI)
	VADDPS 128(DI), Y4, Y4
	VMOVUPS Y4, 128(DI)
	VADDPS 160(DI), Y5, Y5
	VMOVUPS Y5, 160(DI)
	VADDPS 192(DI), Y6, Y6
	VMOVUPS Y6, 192(DI)
	VADDPS 224(DI), Y7, Y7
	VMOVUPS Y7, 224(DI)
	ADDQ $256, DI
	ADDQ $256, DX
	DECQ R10
	JNZ chunk
	VZEROUPPER
	RET
