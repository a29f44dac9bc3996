package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAttnScoresLanes: a slot's score has the same bits wherever it sits in
// the block, in the sixteen-slot kernel or in the eight-lane tail, and is
// close to the float64 dot. Slot j+16 of each block repeats slot j's key.
func TestAttnScoresLanes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, hd := range []int{1, 2, 3, 4, 5, 7, 8, 63, 64, 67, 128} {
		for _, ld := range []int{17, 24, 32, 40} {
			q, kT := randVec(rng, hd), randVec(rng, hd*ld)
			for d := range hd {
				for j := 16; j < ld; j++ {
					kT[d*ld+j] = kT[d*ld+j-16]
				}
			}
			s := make([]float32, ld)
			AttnScores(s, q, kT, ld)
			for j := 16; j < ld; j++ {
				if math.Float32bits(s[j]) != math.Float32bits(s[j-16]) {
					t.Fatalf("hd %d ld %d: slot %d scored %v, its copy at %d %v", hd, ld, j-16, s[j-16], j, s[j])
				}
			}
			for j := range ld {
				var want float64
				for d := range hd {
					want += float64(q[d]) * float64(kT[d*ld+j])
				}
				if math.Abs(float64(s[j])-want) > 1e-5*float64(hd) {
					t.Fatalf("hd %d ld %d slot %d: %v, float64 %v", hd, ld, j, s[j], want)
				}
			}
		}
	}
}

// TestAttnValuesLanes: dimensions 64 and up (the eight-lane tail) give the
// bits of dimensions 0 and up (the 64-wide kernel) on the same values, and
// every output is close to the float64 sum.
func TestAttnValuesLanes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, hd := range []int{1, 7, 8, 64, 65, 72, 100, 128, 131} {
		for _, np := range []int{1, 2, 5, 16} {
			p, v := randVec(rng, np), randVec(rng, np*hd)
			for j := range np {
				for d := 64; d < hd; d++ {
					v[j*hd+d] = v[j*hd+d-64]
				}
			}
			o := randVec(rng, hd)
			for d := 64; d < hd; d++ {
				o[d] = o[d-64]
			}
			want := make([]float64, hd)
			for d := range hd {
				want[d] = float64(o[d])
				for j := range np {
					want[d] += float64(p[j]) * float64(v[j*hd+d])
				}
			}
			AttnValues(o, p, v)
			for d := 64; d < hd; d++ {
				if math.Float32bits(o[d]) != math.Float32bits(o[d-64]) {
					t.Fatalf("hd %d np %d: dimension %d gave %v, its copy at %d %v", hd, np, d-64, o[d-64], d, o[d])
				}
			}
			for d := range hd {
				if math.Abs(float64(o[d])-want[d]) > 1e-5*float64(np+1) {
					t.Fatalf("hd %d np %d dimension %d: %v, float64 %v", hd, np, d, o[d], want[d])
				}
			}
		}
	}
}
