package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine/kernel"
)

func BenchmarkGemm(b *testing.B) {
	rows, k, n := 256, 768, 2048
	x, w, out := make([]float32, rows*k), make([]float32, n*k), make([]float32, rows*n)
	for i := range w {
		w[i] = float32(i%7) * 0.1
	}
	var pw packedB
	pw.packT(w, k, k, n)
	flops := float64(2 * rows * k * n)
	b.Run("kernel.MatMul", func(b *testing.B) {
		for range b.N {
			kernel.MatMul(nil, out, x, w, rows, k, n)
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
	})
	b.Run("gemmSum", func(b *testing.B) {
		for range b.N {
			gemmSum(nil, out, n, rows, n, false, term{rowsOf(x, k), &pw})
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
	})
	b.Run("gemmSum-2threads", func(b *testing.B) {
		p := kernel.NewPool(2)
		defer p.Close()
		for range b.N {
			gemmSum(p, out, n, rows, n, false, term{rowsOf(x, k), &pw})
		}
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
	})
}

func TestSoftmaxAndSiLU(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, n := range []int{1, 7, 8, 9, 16, 17, 100, 513} {
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
		if lse, want := softmaxF32(x), m+math.Log(sum); math.Abs(lse-want) > 1e-5*(1+math.Abs(want)) {
			t.Fatalf("softmax n=%d: log-sum-exp %v, want %v", n, lse, want)
		}
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
		dact, dg, du := make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range dact {
			dact[i] = float32(rng.NormFloat64())
		}
		siluBackF32(dg, du, dact, g, sg, up)
		for i := range g {
			s, gv, d := float64(sg[i]), float64(g[i]), float64(dact[i])
			wantUp, wantGate := d*gv*s, d*float64(up[i])*s*(1+gv*(1-s))
			if math.Abs(float64(du[i])-wantUp) > 1e-5*(1+math.Abs(wantUp)) || math.Abs(float64(dg[i])-wantGate) > 1e-5*(1+math.Abs(wantGate)) {
				t.Fatalf("silu backward n=%d [%d]: (%v, %v), want (%v, %v)", n, i, dg[i], du[i], wantGate, wantUp)
			}
		}
	}
}
