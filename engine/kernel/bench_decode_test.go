package kernel

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine/gguf"
)

// BenchmarkDecodeQ runs one row of x through every projection of the
// Llama-110M shape, each with its own weights (12 layers and the output
// layer, ~70 MB for Q4_K: more than L3), as single-stream decode does: the
// kernels read weights from memory, not from a cache that a per-shape
// benchmark keeps warm. It reports tokens/s of matmuls alone.
func BenchmarkDecodeQ(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	const dim, ffn, vocab, layers = 768, 2048, 32000, 12
	type mat struct {
		w       []byte
		out, in int
	}
	for _, typ := range []gguf.Type{gguf.TypeQ4_K, gguf.TypeQ6_K, gguf.TypeQ4_0, gguf.TypeQ8_0} {
		var mats []mat
		for range layers {
			for _, s := range [][2]int{{dim, dim}, {dim, dim}, {dim, dim}, {dim, dim}, {ffn, dim}, {ffn, dim}, {dim, ffn}} {
				mats = append(mats, mat{randomQ(rng, typ, s[0], s[1]), s[0], s[1]})
			}
		}
		mats = append(mats, mat{randomQ(rng, typ, vocab, dim), vocab, dim})
		x, out := randVec(rng, ffn), make([]float32, vocab)
		bytes := 0
		for _, m := range mats {
			bytes += len(m.w)
		}
		hot := mats[:7] // one layer's weights, which stay in cache
		b.Run(fmt.Sprint(typ, "/hot"), func(b *testing.B) {
			p := benchPool(b)
			for b.Loop() {
				for range layers {
					for _, m := range hot {
						MatMulQ(p, out, x, m.w, typ, 1, m.in, m.out)
					}
				}
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(float64(layers)*float64(len(hot))/sec, "matmul/s")
		})
		b.Run(fmt.Sprint(typ), func(b *testing.B) {
			p := benchPool(b)
			for b.Loop() {
				for _, m := range mats {
					MatMulQ(p, out, x, m.w, typ, 1, m.in, m.out)
				}
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(1/sec, "tok/s")
			b.ReportMetric(float64(bytes)/sec/1e9, "GB/s")
		})
	}
}

// BenchmarkMatMulQShapes times one row of x on each Llama-110M projection
// for the types a Q4_K_M file mixes, in G weights/s.
func BenchmarkMatMulQShapes(b *testing.B) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, typ := range []gguf.Type{gguf.TypeQ4_K, gguf.TypeQ6_K, gguf.TypeQ4_0, gguf.TypeQ8_0} {
		for _, s := range benchShapes {
			w := randomQ(rng, typ, s.out, s.in)
			x, out := randVec(rng, s.in), make([]float32, s.out)
			b.Run(fmt.Sprintf("%s/%s", typ, s.name), func(b *testing.B) {
				p := benchPool(b)
				for b.Loop() {
					MatMulQ(p, out, x, w, typ, 1, s.in, s.out)
				}
				sec := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(float64(s.out*s.in)/sec/1e9, "Gw/s")
			})
		}
	}
}

// benchThreads sizes the benchmarks' pools: -cpu does not reach them (the
// sub-benchmarks all ran with the parent's GOMAXPROCS), so 1 against 2
// threads is -threads 1 against -threads 2.
var benchThreads = flag.Int("threads", 0, "participants of the benchmarks' pools (0: GOMAXPROCS)")

// benchPool is a pool of -threads participants for one sub-benchmark.
func benchPool(b *testing.B) *Pool {
	p := NewPool(*benchThreads)
	b.Cleanup(p.Close)
	return p
}
