package kernel

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine/float16"
)

// randHalves returns n random finite halves and their float32 images.
func randHalves(rng *rand.Rand, n int) ([]uint16, []float32) {
	h, f := make([]uint16, n), make([]float32, n)
	for i := range h {
		h[i] = float16.Float32ToF16(float32(rng.NormFloat64()))
		f[i] = float16.F16ToFloat32(h[i])
	}
	return h, f
}

func sameHalfBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d is %v, want %v", what, i, got[i], want[i])
		}
	}
}

// TestAttnHalfEqualsWidened: the half kernels give AttnScores' and
// AttnValues' bits on the widened block, for every shape their assembly,
// tails and partial loads cover.
func TestAttnHalfEqualsWidened(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, hd := range []int{1, 3, 4, 5, 8, 63, 64, 67, 128, 131} {
		for _, ld := range []int{1, 7, 16, 17, 24, 32, 40} {
			for _, n := range []int{ld, ld / 2, 1} {
				if n == 0 {
					continue
				}
				q := randVec(rng, hd)
				kh, kf := randHalves(rng, hd*ld)
				got, want := make([]float32, n), make([]float32, n)
				AttnScoresF16(got, q, kh, ld)
				AttnScores(want, q, kf, ld)
				sameHalfBits(t, "AttnScoresF16", got, want)
			}
		}
		for _, np := range []int{1, 2, 5, 16} {
			p := randVec(rng, np)
			vh, vf := randHalves(rng, np*hd)
			got := randVec(rng, hd)
			want := append([]float32(nil), got...)
			AttnValuesF16(got, p, vh)
			AttnValues(want, p, vf)
			sameHalfBits(t, "AttnValuesF16", got, want)
		}
	}
}
