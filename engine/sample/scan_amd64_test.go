//go:build goexperiment.simd && amd64

package sample

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestScanAVX2: the vector scan returns scanGo's maximum and id and leaves
// the logits as scanGo does, on lengths around its 32-logit steps, ties,
// signed zeros, -Inf everywhere, and NaN or +Inf anywhere.
func TestScanAVX2(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	specials := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), math.MaxFloat32}
	for _, n := range []int{1, 7, 31, 32, 33, 64, 95, 1000, 32000} {
		for trial := range 96 {
			l := make([]float32, n)
			for i := range l {
				l[i] = float32(r.NormFloat64())
				if trial%4 == 1 { // ties: few distinct values
					l[i] = float32(r.IntN(3))
				}
			}
			switch trial % 4 {
			case 2: // a special value or two anywhere, or last (past the vectors)
				for range 1 + r.IntN(2) {
					l[r.IntN(n)] = specials[r.IntN(len(specials))]
				}
				if trial%8 == 6 {
					l[n-1] = specials[trial/8%len(specials)]
				}
			case 3:
				for i := range l {
					l[i] = specials[2+r.IntN(3)] // -Inf, ±0
				}
			}
			want, got := slices.Clone(l), slices.Clone(l)
			wm, wi := scanGo(want)
			gm, gi := scanAVX2(got)
			if math.Float32bits(gm) != math.Float32bits(wm) || gi != wi {
				t.Fatalf("n %d, trial %d: (%g, %d), scanGo (%g, %d)", n, trial, gm, gi, wm, wi)
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("n %d, trial %d: logit %d left %g, scanGo %g", n, trial, i, got[i], want[i])
				}
			}
		}
	}
}

func BenchmarkScan(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	l := make([]float32, 32000)
	for i := range l {
		l[i] = float32(r.NormFloat64())
	}
	for _, f := range []struct {
		name string
		fn   func([]float32) (float32, int32)
	}{{"go", scanGo}, {"avx2", scanAVX2}} {
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				f.fn(l)
			}
		})
	}
}
