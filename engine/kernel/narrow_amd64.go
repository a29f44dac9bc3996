//go:build goexperiment.simd && amd64

package kernel

import "github.com/graft-ai/graft/engine/float16"

func init() {
	if hasF16C() && levelLimit() >= 1 {
		narrowF16Impl = narrowF16x8
	}
}

// narrowF16x8 rounds eight floats at a time with VCVTPS2PH (round to nearest
// even, whose NaN quieting keeps the top payload bits as Float32ToF16 does),
// the rest in scalar code.
func narrowF16x8(dst []uint16, src []float32) {
	n := len(src) &^ 7
	if n > 0 {
		narrowF16Asm(&dst[0], &src[0], n/8)
	}
	float16.F32ToF16(dst[n:len(src)], src[n:])
}

//go:noescape
func narrowF16Asm(dst *uint16, src *float32, n8 int)
