//go:build goexperiment.simd && amd64

package kernel

import (
	"math"
	"simd/archsimd"
	"testing"

	"github.com/graft-ai/graft/engine/float16"
)

// TestWidenF16AllHalves: the in-register widening gives float16's exact
// float32 for every finite half (all 63488 of them).
func TestWidenF16AllHalves(t *testing.T) {
	if !archsimd.X86.AVX2() {
		t.Skip("no AVX2")
	}
	var h [8]uint16
	var got [8]float32
	for base := 0; base < 1<<16; base += 8 {
		for i := range h {
			h[i] = uint16(base + i)
		}
		widenF16x8(archsimd.LoadUint16x8(&h)).Store(&got)
		for i, v := range got {
			if h[i]&0x7c00 == 0x7c00 {
				continue // Inf and NaN: rejected on load
			}
			if want := float16.F16ToFloat32(h[i]); math.Float32bits(v) != math.Float32bits(want) {
				t.Fatalf("half %#04x: %#08x, want %#08x", h[i], math.Float32bits(v), math.Float32bits(want))
			}
		}
	}
	archsimd.ClearAVXUpperBits()
}
