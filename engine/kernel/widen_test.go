package kernel

import (
	"math"
	"testing"

	"github.com/graft-ai/graft/engine/float16"
)

// TestWidenF16 widens every finite half, at every offset and tail length the
// SIMD loop has, and compares with the exact scalar widening.
func TestWidenF16(t *testing.T) {
	var src []uint16
	for h := range 1 << 16 {
		if uint16(h)&0x7c00 != 0x7c00 {
			src = append(src, uint16(h))
		}
	}
	want := make([]float32, len(src))
	float16.F16ToF32(want, src)
	got := make([]float32, len(src)+1)
	for _, lo := range []int{0, 1, 3, 7} {
		for _, n := range []int{0, 1, 7, 8, 9, 16, 23, len(src) - lo} {
			clear(got)
			got[n] = 42
			WidenF16(got, src[lo:lo+n])
			for i := range n {
				if math.Float32bits(got[i]) != math.Float32bits(want[lo+i]) {
					t.Fatalf("offset %d length %d: half %#04x widened to %v, want %v", lo, n, src[lo+i], got[i], want[lo+i])
				}
			}
			if got[n] != 42 {
				t.Fatalf("offset %d length %d: wrote past the end", lo, n)
			}
		}
	}
}
