//go:build goexperiment.simd && amd64

package kernel

import (
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkDecodeStepF32 runs the matmuls of a 110M F32 decode step (one
// row, each layer its own 438 MB of weights in all) on a pool of -threads,
// alternating step by step the lone row's strided span (halfStreams of
// F32) and the 1×8 tile alone, so that other load on the host falls on
// both alike. span/tile is the ratio of their times.
func BenchmarkDecodeStepF32(b *testing.B) {
	p := benchPool(b)
	rng := rand.New(rand.NewPCG(3, 3))
	const dim, ffn, vocab, layers = 768, 2048, 32000, 12
	type layer struct{ q, k, v, o, g, u, d []float32 }
	var ls []layer
	for range layers {
		ls = append(ls, layer{randVec(rng, dim*dim), randVec(rng, dim*dim), randVec(rng, dim*dim), randVec(rng, dim*dim),
			randVec(rng, ffn*dim), randVec(rng, ffn*dim), randVec(rng, dim*ffn)})
	}
	outW := randVec(rng, vocab*dim)
	x := randVec(rng, ffn)
	o, g, lg := make([]float32, dim), make([]float32, ffn), make([]float32, vocab)
	step := func() {
		for _, l := range ls {
			for _, w := range [][]float32{l.q, l.k, l.v, l.o} {
				MatMul(p, o, x[:dim], w, 1, dim, dim)
			}
			MatMul(p, g, x[:dim], l.g, 1, dim, ffn)
			MatMul(p, g, x[:dim], l.u, 1, dim, ffn)
			MatMul(p, o, x, l.d, 1, ffn, dim)
		}
		MatMul(p, lg, x[:dim], outW, 1, dim, vocab)
	}
	span := f32Kernels.span
	defer func() { f32Kernels.span = span }()
	var t [2]time.Duration
	i := 0
	for b.Loop() {
		m := i % 2
		if m == 1 {
			f32Kernels.span = span
		} else {
			f32Kernels.span = nil
		}
		st := time.Now()
		step()
		t[m] += time.Since(st)
		i++
	}
	b.ReportMetric(t[1].Seconds()/t[0].Seconds(), "span/tile")
}
