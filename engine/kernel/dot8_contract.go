package kernel

// TEMPORARY (h14b): a verbatim copy of the declarations of h14a's dot8.go
// (commit 00ba711) that the K-quant dots use, so that dotk*.go compile and
// test on their own branch. The lead deletes this file when merging h14a's
// dot8.go, which declares all of them.

import (
	"encoding/binary"
	"math"

	"github.com/graft-ai/graft/engine/float16"
	"github.com/graft-ai/graft/engine/gguf"
)

// qdotIFunc computes out[r*ldo+c] for r < rows and c < cols (rows, cols in
// 1..4): the dot of activation row r (xq + r*ldx bytes: nb activation blocks)
// with weight row c (w + c*ldw bytes: nb weight blocks). Every element has the
// bits of the type's reference single dot, whatever the tile shape, so any
// tiling (and any batch size) gives the same results.
type qdotIFunc func(out *float32, ldo int, xq *byte, ldx int, w *byte, ldw int, nb int, rows, cols int)

// actFormat is an activation block layout (ggml's).
type actFormat int

const (
	actQ8_0 actFormat = iota // 34 B: f16 d, 32 int8
	actQ8_K                  // 292 B: f32 d, 256 int8, 16 int16 bsums
)

// blockBytes and blockSize describe one activation block of the format.
func (f actFormat) blockBytes() int { return [...]int{34, 292}[f] }
func (f actFormat) blockSize() int  { return [...]int{32, 256}[f] }

// intDot describes a weight type's integer-activation dot.
type intDot struct {
	act actFormat // the activation block format; its block size equals the weight type's
	// quantize turns one row of x (a multiple of the block size) into
	// activation blocks, bit-exact to ggml's quantize_row_q8_0_ref /
	// quantize_row_q8_K_ref on finite input.
	quantize func(dst []byte, x []float32)
	dot      qdotIFunc
}

// intDots holds the types with an integer-activation dot; generic references
// are registered in init (portable builds), SIMD builds replace .dot with
// kernels fuzzed against them.
var intDots = map[gguf.Type]*intDot{}

// half reads a little-endian IEEE half at b.
func half(b []byte) float32 { return float16.F16ToFloat32(binary.LittleEndian.Uint16(b)) }

// fma32 is float32's fused multiply-add a·b+c, rounded once: the product of
// two float32 is exact in float64, their sum with c is rounded to odd there
// (TwoSum gives the error that decides it), and 53 ≥ 24+2 bits make the
// final rounding to float32 the correct one (Boldo and Melquiond).
func fma32(a, b, c float32) float32 {
	p := float64(float64(a) * float64(b))
	s := float64(p + float64(c))
	if math.IsInf(s, 0) || s != s {
		return float32(s)
	}
	t := float64(s - p)
	e := float64(p-float64(s-t)) + float64(float64(c)-t)
	if bits := math.Float64bits(s); e != 0 && bits&1 == 0 {
		if (e > 0) == (s > 0) {
			bits++
		} else {
			bits--
		}
		s = math.Float64frombits(bits)
	}
	return float32(s)
}
