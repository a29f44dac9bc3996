//go:build goexperiment.simd && amd64

#include "textflag.h"

// Lane order of the packed bytes: VPACKSSDW/VPACKSSWB interleave 128-bit
// halves, so dword k of the result comes from dword perm[k].
DATA q8perm<>+0(SB)/4, $0
DATA q8perm<>+4(SB)/4, $4
DATA q8perm<>+8(SB)/4, $1
DATA q8perm<>+12(SB)/4, $5
DATA q8perm<>+16(SB)/4, $2
DATA q8perm<>+20(SB)/4, $6
DATA q8perm<>+24(SB)/4, $3
DATA q8perm<>+28(SB)/4, $7
GLOBL q8perm<>(SB), RODATA|NOPTR, $32

// func quantQ8_0AVX2(dst *byte, x *float32, nb int) int
// Quantizes up to nb blocks of 32 and returns how many it did: it stops
// before a block with a non-finite value or whose 1/d overflows, which the
// caller quantizes with the reference.
TEXT ·quantQ8_0AVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ nb+16(FP), CX
	XORQ AX, AX
	MOVL $0x7fffffff, DX
	VMOVD DX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x42fe0000, DX // 127
	VMOVD DX, X14
	MOVL $0x3f800000, DX // 1
	VMOVD DX, X13
	VPBROADCASTD X13, Y10
	MOVL $0x3f000000, DX // 0.5
	VMOVD DX, X12
	VPBROADCASTD X12, Y12
	MOVL $0xbf000000, DX // -0.5
	VMOVD DX, X11
	VPBROADCASTD X11, Y11
	VMOVDQU q8perm<>(SB), Y9

loop:
	CMPQ AX, CX
	JGE  done
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3

	// amax: |x| bits compare as integers in float order, Inf and NaN
	// above every finite value.
	VPAND   Y15, Y0, Y4
	VPAND   Y15, Y1, Y5
	VPMAXSD Y5, Y4, Y4
	VPAND   Y15, Y2, Y5
	VPMAXSD Y5, Y4, Y4
	VPAND   Y15, Y3, Y5
	VPMAXSD Y5, Y4, Y4
	VEXTRACTI128 $1, Y4, X5
	VPMAXSD X5, X4, X4
	VPSHUFD $0x4e, X4, X5
	VPMAXSD X5, X4, X4
	VPSHUFD $0xb1, X4, X5
	VPMAXSD X5, X4, X4
	VMOVD   X4, DX
	CMPL    DX, $0x7f7fffff
	JHI     done

	// d = amax/127, stored as a half; id = 1/d, or 0 where d is 0.
	VDIVSS    X14, X4, X6
	VCVTPS2PH $0, X6, X7
	VMOVD     X7, DX
	MOVW      DX, 0(DI)
	VXORPS    X8, X8, X8
	VUCOMISS  X8, X6
	JEQ       scaled
	VDIVSS    X6, X13, X8
	VMOVD     X8, DX
	ANDL      $0x7f800000, DX
	CMPL      DX, $0x7f800000
	JEQ       done

scaled:
	VBROADCASTSS X8, Y8
	VMULPS Y8, Y0, Y0
	VMULPS Y8, Y1, Y1
	VMULPS Y8, Y2, Y2
	VMULPS Y8, Y3, Y3

	// C's roundf: truncate, then step away from zero where the dropped
	// fraction is at least one half. |q| ≤ 127 up to rounding of d and id.
	VROUNDPS $3, Y0, Y4
	VSUBPS   Y4, Y0, Y5
	VCMPPS   $0x0d, Y12, Y5, Y6
	VCMPPS   $0x02, Y11, Y5, Y7
	VANDPS   Y10, Y6, Y6
	VANDPS   Y10, Y7, Y7
	VADDPS   Y6, Y4, Y4
	VSUBPS   Y7, Y4, Y4
	VCVTTPS2DQ Y4, Y0

	VROUNDPS $3, Y1, Y4
	VSUBPS   Y4, Y1, Y5
	VCMPPS   $0x0d, Y12, Y5, Y6
	VCMPPS   $0x02, Y11, Y5, Y7
	VANDPS   Y10, Y6, Y6
	VANDPS   Y10, Y7, Y7
	VADDPS   Y6, Y4, Y4
	VSUBPS   Y7, Y4, Y4
	VCVTTPS2DQ Y4, Y1

	VROUNDPS $3, Y2, Y4
	VSUBPS   Y4, Y2, Y5
	VCMPPS   $0x0d, Y12, Y5, Y6
	VCMPPS   $0x02, Y11, Y5, Y7
	VANDPS   Y10, Y6, Y6
	VANDPS   Y10, Y7, Y7
	VADDPS   Y6, Y4, Y4
	VSUBPS   Y7, Y4, Y4
	VCVTTPS2DQ Y4, Y2

	VROUNDPS $3, Y3, Y4
	VSUBPS   Y4, Y3, Y5
	VCMPPS   $0x0d, Y12, Y5, Y6
	VCMPPS   $0x02, Y11, Y5, Y7
	VANDPS   Y10, Y6, Y6
	VANDPS   Y10, Y7, Y7
	VADDPS   Y6, Y4, Y4
	VSUBPS   Y7, Y4, Y4
	VCVTTPS2DQ Y4, Y3

	// Every value is within ±127 (a |q| a hair above 127 from the rounding
	// of d and id truncates to 127), so the saturating packs only reorder:
	// pack to bytes, then put the dwords back in x's order.
	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VPERMD    Y0, Y9, Y0
	VMOVDQU   Y0, 2(DI)

	ADDQ $34, DI
	ADDQ $128, SI
	INCQ AX
	JMP  loop

done:
	VZEROUPPER
	MOVQ AX, ret+24(FP)
	RET
