package kernel

import "github.com/graft-ai/graft/engine/float16"

var narrowF16Impl = float16.F32ToF16

// NarrowF16 rounds src to IEEE halves in the front of dst, to nearest even,
// with the bits of float16.F32ToF16 (overflow to infinity, subnormals, NaN
// kept a quiet NaN), in SIMD where the CPU has F16C.
func NarrowF16(dst []uint16, src []float32) {
	if len(dst) < len(src) {
		panic("kernel: NarrowF16 destination shorter than its source")
	}
	narrowF16Impl(dst, src)
}
