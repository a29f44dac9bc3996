//go:build goexperiment.simd && amd64

package kernel

import (
	"encoding/binary"

	"github.com/graft-ai/graft/engine/float16"
	"github.com/graft-ai/graft/engine/gguf"
)

//go:generate python3 gen_dequant.py

// AVX2 decoders of the common block formats, Q8_0, Q4_0, Q4_K, Q5_K and
// Q6_K (dequant_amd64.s). The Go side widens each block's half scales in
// scalar code, a chunk at a time into a stack array; the assembly makes any
// sub-block scales with ggml's float32 roundings, widens the quants and
// applies them. The assembly ends with VZEROUPPER, so the scalar code after
// it pays no AVX-SSE transition.

//go:noescape
func deqQ8_0(y *float32, src *byte, s *float32, nb int)

//go:noescape
func deqQ4_0(y *float32, src *byte, s *float32, nb int)

//go:noescape
func deqQ4_K(y *float32, src *byte, s *float32, nb int)

//go:noescape
func deqQ5_K(y *float32, src *byte, s *float32, nb int)

//go:noescape
func deqQ6_K(y *float32, src *byte, s *float32, nb int)

// deqChunk is how many scales one assembly call consumes.
const deqChunk = 128

func useDequantAVX2() {
	dequantizers[gguf.TypeQ8_0] = dequantQ8_0AVX2
	dequantizers[gguf.TypeQ4_0] = dequantQ4_0AVX2
	dequantizers[gguf.TypeQ4_K] = dequantQ4_KAVX2
	dequantizers[gguf.TypeQ5_K] = dequantQ5_KAVX2
	dequantizers[gguf.TypeQ6_K] = dequantQ6_KAVX2
}

func h2f(b []byte) float32 { return float16.F16ToFloat32(binary.LittleEndian.Uint16(b)) }

// dequantQ32 decodes the 32-value formats whose only scale is the half at
// the start of each block: Q8_0 (34 bytes) or Q4_0 (18).
func dequantQ32(y []float32, src []byte, bb int) {
	nb := len(y) / 32
	_, _ = y[:nb*32], src[:nb*bb]
	var s [deqChunk]float32
	for b0 := 0; b0 < nb; b0 += deqChunk {
		n := min(deqChunk, nb-b0)
		for i := range n {
			s[i] = h2f(src[(b0+i)*bb:])
		}
		if bb == 34 { // a direct call: s must not escape
			deqQ8_0(&y[b0*32], &src[b0*bb], &s[0], n)
		} else {
			deqQ4_0(&y[b0*32], &src[b0*bb], &s[0], n)
		}
	}
}

func dequantQ8_0AVX2(y []float32, src []byte) { dequantQ32(y, src, 34) }
func dequantQ4_0AVX2(y []float32, src []byte) { dequantQ32(y, src, 18) }

// dequantQ4_KAVX2 and dequantQ5_KAVX2: s gets each superblock's d and
// dmin; the assembly makes the sub-block scales and minimums.
func dequantQ4_KAVX2(y []float32, src []byte) { dequantK45(y, src, 144) }
func dequantQ5_KAVX2(y []float32, src []byte) { dequantK45(y, src, 176) }

func dequantK45(y []float32, src []byte, bb int) {
	nb := len(y) / 256
	_, _ = y[:nb*256], src[:nb*bb]
	var s [deqChunk]float32
	const per = deqChunk / 2
	for b0 := 0; b0 < nb; b0 += per {
		n := min(per, nb-b0)
		for i := range n {
			blk := src[(b0+i)*bb:]
			s[2*i], s[2*i+1] = h2f(blk), h2f(blk[2:])
		}
		if bb == 144 { // a direct call: s must not escape
			deqQ4_K(&y[b0*256], &src[b0*bb], &s[0], n)
		} else {
			deqQ5_K(&y[b0*256], &src[b0*bb], &s[0], n)
		}
	}
}

// dequantQ6_KAVX2: s gets each superblock's d; the assembly scales it.
func dequantQ6_KAVX2(y []float32, src []byte) {
	nb := len(y) / 256
	_, _ = y[:nb*256], src[:nb*210]
	var s [deqChunk]float32
	for b0 := 0; b0 < nb; b0 += deqChunk {
		n := min(deqChunk, nb-b0)
		for i := range n {
			s[i] = h2f(src[(b0+i)*210+208:])
		}
		deqQ6_K(&y[b0*256], &src[b0*210], &s[0], n)
	}
}
