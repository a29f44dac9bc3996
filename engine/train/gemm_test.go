package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine/kernel"
)

func TestGemmMatchesLoops(t *testing.T) {
	p := kernel.NewPool(2)
	defer p.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range [][3]int{{1, 1, 1}, {4, 16, 16}, {7, 33, 50}, {9, 768, 48}, {3, 5, 17}, {13, 64, 160}} {
		rows, k, n := s[0], s[1], s[2]
		x, b := make([]float32, rows*k), make([]float32, k*n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		for i := range b {
			b[i] = float32(rng.NormFloat64())
		}
		out := make([]float32, rows*n)
		for i := range out {
			out[i] = 1e9 // gemm must overwrite, not accumulate
		}
		gemm(p, out, x, b, rows, k, n)
		for r := 0; r < rows; r++ {
			for j := 0; j < n; j++ {
				var want, mag float64
				for t := 0; t < k; t++ {
					want += float64(x[r*k+t]) * float64(b[t*n+j])
					mag += math.Abs(float64(x[r*k+t]) * float64(b[t*n+j]))
				}
				if d := math.Abs(float64(out[r*n+j]) - want); d > 1e-5*mag+1e-6 {
					t.Fatalf("%v: out[%d,%d] = %v, want %v", s, r, j, out[r*n+j], want)
				}
			}
		}
	}
}

func BenchmarkGemm(b *testing.B) {
	rows, k, n := 256, 768, 2048
	x, w, wT, out := make([]float32, rows*k), make([]float32, n*k), make([]float32, n*k), make([]float32, rows*n)
	for i := range w {
		w[i] = float32(i%7) * 0.1
	}
	transpose(wT, w, n, k)
	flops := float64(2 * rows * k * n)
	b.Run("kernel.MatMul", func(b *testing.B) {
		for range b.N {
			kernel.MatMul(nil, out, x, w, rows, k, n)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
	})
	b.Run("gemm", func(b *testing.B) {
		for range b.N {
			gemm(nil, out, x, wT, rows, k, n)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
	})
}
