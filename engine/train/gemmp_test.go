package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine/kernel"
)

// TestGemmSumMatchesLoops checks the packed GEMM against float64 loops over
// shapes with short tiles, under-six-row matrices, transposed left operands,
// two-term sums, accumulation, a wider output stride and k past kBlock.
func TestGemmSumMatchesLoops(t *testing.T) {
	p := kernel.NewPool(2)
	defer p.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	randn := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
		return s
	}
	type shape struct{ rows, k1, k2, n int }
	for _, s := range []shape{{1, 1, 0, 1}, {4, 16, 3, 16}, {7, 33, 0, 50}, {9, 768, 16, 48}, {3, 5, 2, 17},
		{13, 64, 0, 160}, {20, 600, 7, 200}, {6, 4100, 0, 20}, {50, 2000, 100, 33}, {768, 40, 0, 16}} {
		for _, transA := range []bool{false, true} {
			for _, acc := range []bool{false, true} {
				name := fmt.Sprintf("%v/transA=%v/acc=%v", s, transA, acc)
				ldo := s.n + 3
				a1, a2 := randn(s.rows*s.k1), randn(s.rows*s.k2)
				b1, b2 := randn(s.k1*s.n), randn(s.k2*s.n) // b1 [k1, n]; b2 given transposed, [n, k2]
				var pb1, pb2 packedB
				pb1.pack(b1, s.n, s.k1, s.n)
				pb2.packT(b2, s.k2, s.k2, s.n)
				el1 := func(r, t int) float32 { return a1[r*s.k1+t] }
				m1 := rowsOf(a1, s.k1)
				if transA { // store A1 as [k1, rows]
					at := make([]float32, len(a1))
					transpose(at, a1, s.rows, s.k1)
					m1 = colsOf(at, s.rows)
				}
				out := randn(s.rows * ldo)
				init := append([]float32(nil), out...)
				terms := []term{{m1, &pb1}}
				if s.k2 > 0 {
					terms = append(terms, term{rowsOf(a2, s.k2), &pb2})
				}
				gemmSum(p, out, ldo, s.rows, s.n, acc, terms...)
				for r := 0; r < s.rows; r++ {
					for j := 0; j < ldo; j++ {
						got := out[r*ldo+j]
						if j >= s.n {
							if got != init[r*ldo+j] {
								t.Fatalf("%s: wrote past n at [%d,%d]", name, r, j)
							}
							continue
						}
						var want, mag float64
						if acc {
							want, mag = float64(init[r*ldo+j]), math.Abs(float64(init[r*ldo+j]))
						}
						for k := 0; k < s.k1; k++ {
							v := float64(el1(r, k)) * float64(b1[k*s.n+j])
							want, mag = want+v, mag+math.Abs(v)
						}
						for k := 0; k < s.k2; k++ {
							v := float64(a2[r*s.k2+k]) * float64(b2[j*s.k2+k])
							want, mag = want+v, mag+math.Abs(v)
						}
						if d := math.Abs(float64(got) - want); d > 1e-5*mag+1e-6 {
							t.Fatalf("%s: out[%d,%d] = %v, want %v", name, r, j, got, want)
						}
					}
				}
			}
		}
	}
}

// TestGemmShapes checks the causal shapes against the full product: a
// triangular A gives the same result with its zero part skipped, and
// lowerOut gives the same lower triangle.
func TestGemmShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, L := range []int{1, 5, 6, 7, 40, 61} {
		for _, sh := range []shape{lowerOut, lowerA, upperA} {
			a, b := make([]float32, L*L), make([]float32, L*L)
			for r := 0; r < L; r++ {
				for c := 0; c < L; c++ {
					b[r*L+c] = float32(rng.NormFloat64())
					if (sh == lowerA && c > r) || (sh == upperA && c < r) {
						continue
					}
					a[r*L+c] = float32(rng.NormFloat64())
				}
			}
			var pb packedB
			pb.pack(b, L, L, L)
			want, got := make([]float32, L*L), make([]float32, L*L)
			gemmSum(nil, want, L, L, L, false, term{rowsOf(a, L), &pb})
			gemmShaped(nil, got, L, L, L, false, sh, term{rowsOf(a, L), &pb})
			for r := 0; r < L; r++ {
				for c := 0; c < L; c++ {
					if sh == lowerOut && c > r {
						continue
					}
					if d := math.Abs(float64(got[r*L+c] - want[r*L+c])); d > 1e-5*(1+math.Abs(float64(want[r*L+c]))) {
						t.Fatalf("L=%d shape %d: [%d,%d] = %v, want %v", L, sh, r, c, got[r*L+c], want[r*L+c])
					}
				}
			}
		}
	}
}
