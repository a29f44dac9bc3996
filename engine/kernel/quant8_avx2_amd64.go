//go:build goexperiment.simd && amd64

package kernel

import "simd/archsimd"

// quantQ8_0AVX2 quantizes up to nb Q8_0 activation blocks (quant8_amd64.s)
// and returns how many it did; it stops at a block with a non-finite value
// or a scale whose reciprocal overflows.
//
//go:noescape
func quantQ8_0AVX2(dst *byte, x *float32, nb int) int

// init puts the AVX2 Q8_0 activation quantizer in place of the reference
// for the types that use it: decode quantizes each matmul's input on the
// caller before the parallel part, where the scalar loop cost ~3.5 ns a
// value. The bytes are the reference's (fuzzed in quant8_amd64_test.go).
func init() {
	if !archsimd.X86.AVX2() || !hasF16C() || levelLimit() < 1 {
		return
	}
	for _, d := range intDots {
		if d.act == actQ8_0 {
			d.quantize = quantizeQ8_0AVX2
		}
	}
}

// quantizeQ8_0AVX2 is quantizeQ8_0Act with the blocks the assembly leaves
// (non-finite input, tiny scales) done by the reference.
func quantizeQ8_0AVX2(dst []byte, x []float32) {
	nb := len(x) / 32
	dst = dst[:nb*34]
	for b := 0; b < nb; {
		b += quantQ8_0AVX2(&dst[b*34], &x[b*32], nb-b)
		if b < nb {
			quantizeQ8_0Act(dst[b*34:(b+1)*34], x[b*32:(b+1)*32])
			b++
		}
	}
}
