package kernel

// TEMPORARY (h14b): a copy of the integer-activation contract that h14a
// declares in dot8.go, so that dotk.go compiles on its own branch. The lead
// deletes this file when merging h14a's dot8.go.

import "github.com/graft-ai/graft/engine/gguf"

// qdotIFunc computes out[r*ldo+c] for r < rows and c < cols (rows, cols in 1..4): the dot of
// activation row r (xq + r*ldx bytes: nb activation blocks) with weight row c (w + c*ldw bytes: nb
// weight blocks). Every element has the bits of the type's reference single dot, whatever the tile
// shape, so any tiling (and any batch size) gives the same results.
type qdotIFunc func(out *float32, ldo int, xq *byte, ldx int, w *byte, ldw int, nb int, rows, cols int)

type actFormat int

const (
	actQ8_0 actFormat = iota + 1
	actQ8_K
)

// intDot describes a weight type's integer-activation dot.
type intDot struct {
	act      actFormat                     // actQ8_K: ggml's block_q8_K (f32 d, int8 qs[256], int16 bsums[16]) = 292 bytes
	quantize func(dst []byte, x []float32) // one row of x into activation blocks, bit-exact to ggml's quantize_row_q8_K_ref
	dot      qdotIFunc
}

var intDots = map[gguf.Type]*intDot{}
