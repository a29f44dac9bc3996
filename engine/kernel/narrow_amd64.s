//go:build goexperiment.simd && amd64

#include "textflag.h"

// func narrowF16Asm(dst *uint16, src *float32, n8 int)
// rounds 8·n8 floats to halves, to nearest even (imm8 0: the rounding the
// instruction names, not MXCSR's).
TEXT ·narrowF16Asm(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n8+16(FP), CX
loop:
	VMOVUPS (SI), Y0
	VCVTPS2PH $0, Y0, (DI)
	ADDQ $32, SI
	ADDQ $16, DI
	DECQ CX
	JNZ loop
	VZEROUPPER
	RET
