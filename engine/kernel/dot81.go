package kernel

import (
	"encoding/binary"

	"github.com/graft-ai/graft/engine/float16"
	"github.com/graft-ai/graft/engine/gguf"
)

// Q4_1 and Q5_1 weights (d·q + m, q unsigned) meet Q8_1 activations, as in
// ggml: each activation block carries s = d·Σq beside d, so the offset m
// costs one product a block (m·s) instead of a term per value.
//
// The float order of both references, which their AVX2 kernels follow
// exactly and which is ggml's AVX2 ggml_vec_dot_q4_1_q8_1 and _q5_1_q8_1
// (TestDot81MatchesGGML): eight float32 lanes as in dotQ5_0Q8_0, the
// unsigned values meeting x directly (VPMADDUBSW); beside them one float32
// that takes m·s per block with a fused multiply-add; the result is the
// lanes' sum8 plus that one.

func init() {
	intDots[gguf.TypeQ4_1] = &intDot{act: actQ8_1, quantize: quantizeQ8_1Act, dot: tileOf(dotQ4_1Q8_1, q8_1Bytes, 20)}
	intDots[gguf.TypeQ5_1] = &intDot{act: actQ8_1, quantize: quantizeQ8_1Act, dot: tileOf(dotQ5_1Q8_1, q8_1Bytes, 24)}
}

// q8_1Bytes is a Q8_1 activation block: f16 d, f16 s, 32 int8.
const q8_1Bytes = 36

// quantizeQ8_1Act is ggml's quantize_row_q8_1_ref: quantizeQ8_0Act's d and
// values, and s = d·Σq rounded to a half, with d in float32 (not its half).
func quantizeQ8_1Act(dst []byte, x []float32) {
	nb := len(x) / 32
	dst = dst[:nb*q8_1Bytes]
	for b := range nb {
		out := dst[b*q8_1Bytes : (b+1)*q8_1Bytes]
		d, sum := quantizeBlockQ8(out, (*[32]float32)(x[b*32:]))
		binary.LittleEndian.PutUint16(out[2:], float16.Float32ToF16(float32(sum)*d))
	}
}

// dotQ4_1Q8_1 is ggml_vec_dot_q4_1_q8_1 in that order. A Q4_1 block is
// f16 d, f16 m and the nibbles as in Q4_0 (values 0..15, no offset).
func dotQ4_1Q8_1(xq, w []byte, nb int) float32 { return dotQ8_1(xq, w, nb, 20, q4_1Value) }

// q4_1Value is value k of Q4_1 block wb.
func q4_1Value(wb []byte, k int) byte { return wb[4+k%16] >> (4 * (k / 16)) & 0xF }

// dotQ5_1Q8_1 is ggml_vec_dot_q5_1_q8_1 in that order. A Q5_1 block is f16
// d, f16 m, qh (bit k is value k's fifth bit) and the nibbles as in Q4_1.
func dotQ5_1Q8_1(xq, w []byte, nb int) float32 { return dotQ8_1(xq, w, nb, 24, q5_1Value) }

// q5_1Value is value k of Q5_1 block wb.
func q5_1Value(wb []byte, k int) byte {
	return wb[8+k%16]>>(4*(k/16))&0xF | byte(binary.LittleEndian.Uint32(wb[4:])>>k&1)<<4
}

// dotQ8_1 is the order of both: weight blocks of bb bytes, f16 d and m
// first, whose value k is value(block, k).
func dotQ8_1(xq, w []byte, nb, bb int, value func(wb []byte, k int) byte) float32 {
	var acc [8]float32
	var summs float32
	for b := range nb {
		wb, xb := w[b*bb:(b+1)*bb], (*[q8_1Bytes]byte)(xq[b*q8_1Bytes:])
		d := half(wb) * half(xb[:])
		summs = fma32(half(wb[2:]), half(xb[2:]), summs)
		for l := range 8 {
			var s int32
			for k := 4 * l; k < 4*l+4; k++ {
				s += int32(value(wb, k)) * int32(int8(xb[4+k]))
			}
			acc[l] = fma32(float32(s), d, acc[l])
		}
	}
	return sum8(&acc) + summs
}
