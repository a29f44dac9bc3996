//go:build goexperiment.simd && amd64

package kernel

import (
	"encoding/binary"

	"github.com/graft-ai/graft/engine/float16"
	"github.com/graft-ai/graft/engine/gguf"
)

//go:generate python3 gen_dequant.py

// AVX2 decoders of the common block formats (dequant_amd64.s). The Go side
// computes each block's or sub-block's float32 scale exactly as ggml does,
// in scalar code, a chunk at a time into a stack array; the assembly widens
// the quants and applies them. The assembly ends with VZEROUPPER, so the
// scalar code after it pays no AVX-SSE transition.

//go:noescape
func deqQ8_0(y *float32, src *byte, s *float32, nb int)

//go:noescape
func deqQ4_0(y *float32, src *byte, s *float32, nb int)

//go:noescape
func deqQ4_K(y *float32, src *byte, s *float32, nb int)

//go:noescape
func deqQ6_K(y *float32, src *byte, s *float32, nb int)

// deqChunk is how many scales one assembly call consumes.
const deqChunk = 128

func useDequantAVX2() {
	dequantizers[gguf.TypeQ8_0] = dequantQ8_0AVX2
	dequantizers[gguf.TypeQ4_0] = dequantQ4_0AVX2
	dequantizers[gguf.TypeQ4_K] = dequantQ4_KAVX2
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

// dequantQ4_KAVX2: per superblock, s gets d·sc_j for the eight sub-blocks,
// then dmin·m_j.
func dequantQ4_KAVX2(y []float32, src []byte) {
	nb := len(y) / 256
	_, _ = y[:nb*256], src[:nb*144]
	var s [deqChunk]float32
	const per = deqChunk / 16
	for b0 := 0; b0 < nb; b0 += per {
		n := min(per, nb-b0)
		for i := range n {
			blk := src[(b0+i)*144 : (b0+i+1)*144]
			d, dmin := h2f(blk), h2f(blk[2:])
			for j := range 8 {
				sc, m := scaleMinK4(j, blk[4:16])
				s[16*i+j], s[16*i+8+j] = d*float32(sc), dmin*float32(m)
			}
		}
		deqQ4_K(&y[b0*256], &src[b0*144], &s[0], n)
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

// scaleMinK4 is ggml's get_scale_min_k4: the j-th 6-bit scale and min of a
// Q4_K or Q5_K block.
func scaleMinK4(j int, q []byte) (sc, m byte) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}
