package kernel

import (
	"math"
	"testing"

	"github.com/graft-ai/graft/engine/float16"
)

// TestNarrowF16 rounds a float32 of every 509th bit pattern (all exponents,
// signs, NaN payloads and subnormals), plus the halfway and overflow edges,
// and compares with float16.Float32ToF16 bit for bit.
func TestNarrowF16(t *testing.T) {
	var src []float32
	for b := uint64(0); b < 1<<32; b += 509 {
		src = append(src, math.Float32frombits(uint32(b)))
	}
	for _, f := range []float32{65504, 65519.99, 65520, -65520, float32(math.Inf(1)), float32(math.Ldexp(1, -25)),
		float32(math.Ldexp(1, -24)), float32(math.Ldexp(1.5, -24)), float32(math.Ldexp(1, -14)), 0, float32(math.Copysign(0, -1))} {
		src = append(src, f)
	}
	src = append(src, math.Float32frombits(0x7f800001), math.Float32frombits(0xffc00001)) // signalling and quiet NaNs
	got := make([]uint16, len(src)+1)
	for _, lo := range []int{0, 3} {
		s := src[lo:]
		got[len(s)] = 0xbeef
		NarrowF16(got, s)
		for i, f := range s {
			if want := float16.Float32ToF16(f); got[i] != want {
				t.Fatalf("%#08x: %#04x, want %#04x", math.Float32bits(f), got[i], want)
			}
		}
		if got[len(s)] != 0xbeef {
			t.Fatal("wrote past the end")
		}
	}
}
