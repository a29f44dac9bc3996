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
	for _, s := range [][3]int{{1, 1, 1}, {4, 16, 16}, {7, 33, 50}, {9, 768, 48}, {3, 5, 17}, {13, 64, 160}, {20, 600, 200}} {
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
	b.Run("gemm-2threads", func(b *testing.B) {
		p := kernel.NewPool(2)
		defer p.Close()
		for range b.N {
			gemm(p, out, x, wT, rows, k, n)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
	})
}

func TestSoftmaxAndSiLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, n := range []int{1, 7, 8, 9, 100, 513} {
		x := make([]float32, n)
		want := make([]float64, n)
		var m, sum float64 = -1e9, 0
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 8)
			m = math.Max(m, float64(x[i]))
		}
		for i := range x {
			want[i] = math.Exp(float64(x[i]) - m)
			sum += want[i]
		}
		softmaxF32(x)
		for i := range x {
			if d := math.Abs(float64(x[i]) - want[i]/sum); d > 1e-6 {
				t.Fatalf("softmax n=%d [%d]: %v, want %v", n, i, x[i], want[i]/sum)
			}
		}
		g, up, act, sg := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range g {
			g[i], up[i] = float32(rng.NormFloat64()*10), float32(rng.NormFloat64())
		}
		siluPartsF32(act, sg, g, up)
		for i := range g {
			s := 1 / (1 + math.Exp(-float64(g[i])))
			if math.Abs(float64(sg[i])-s) > 1e-6 || math.Abs(float64(act[i])-float64(g[i])*s*float64(up[i])) > 1e-5*(1+math.Abs(float64(g[i]))) {
				t.Fatalf("silu n=%d [%d] of %v: sigmoid %v want %v", n, i, g[i], sg[i], s)
			}
		}
	}
}
