package kernel

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// halfKernelSets are the lone-row F16 and BF16 kernel sets a benchmark
// compares, by name; the SIMD build adds the ones it has (the first is the
// one in use).
var halfKernelSets = func() []halfKernels {
	return []halfKernels{{"cur", f16Kernels, bf16Kernels}}
}

type halfKernels struct {
	name      string
	f16, bf16 tileKernels[uint16]
}

// useHalfKernels installs k for the rest of b.
func useHalfKernels(b *testing.B, k halfKernels) {
	f16, bf16 := f16Kernels, bf16Kernels
	f16Kernels, bf16Kernels = k.f16, k.bf16
	b.Cleanup(func() { f16Kernels, bf16Kernels = f16, bf16 })
}

// BenchmarkDecodeHalf is BenchmarkDecodeQ for F16 and BF16 weights: one row
// of x through every projection of Llama-110M, each with its own weights
// (~220 MB: far more than L3), so that the kernels read memory as decode
// does. Every kernel set runs in the same process: compare their ratios.
func BenchmarkDecodeHalf(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 16))
	const dim, ffn, vocab, layers = 768, 2048, 32000, 12
	type mat struct {
		w       []uint16
		out, in int
	}
	var mats []mat
	for range layers {
		for _, s := range [][2]int{{dim, dim}, {dim, dim}, {dim, dim}, {dim, dim}, {ffn, dim}, {ffn, dim}, {dim, ffn}} {
			mats = append(mats, mat{randF16(rng, s[0]*s[1]), s[0], s[1]})
		}
	}
	mats = append(mats, mat{randF16(rng, vocab*dim), vocab, dim})
	x, out := randVec(rng, ffn), make([]float32, vocab)
	bytes := 0
	for _, m := range mats {
		bytes += 2 * len(m.w)
	}
	// paired: every round times one token of each set in turn, so that the
	// load of a shared host weighs on all sets alike, and one of the same
	// weights widened to float32, whose GB/s is what memory gives the F32
	// tiles in the same process; the medians are reported.
	b.Run("paired", func(b *testing.B) {
		sets := halfKernelSets()
		f16, bf16 := f16Kernels, bf16Kernels
		defer func() { f16Kernels, bf16Kernels = f16, bf16 }()
		p := benchPool(b)
		wide := make([][]float32, len(mats))
		for i, m := range mats {
			wide[i] = make([]float32, len(m.w))
			widenF16Panel(wide[i], halfBytes(m.w))
		}
		secs := make([][2][]float64, len(sets))
		var f32Secs []float64
		for b.Loop() {
			start := time.Now()
			for i, m := range mats {
				MatMul(p, out, x, wide[i], 1, m.in, m.out)
			}
			f32Secs = append(f32Secs, time.Since(start).Seconds())
			for i, k := range sets {
				f16Kernels, bf16Kernels = k.f16, k.bf16
				for t := range 2 {
					start := time.Now()
					for _, m := range mats {
						if t == 0 {
							MatMulF16(p, out, x, m.w, 1, m.in, m.out)
						} else {
							MatMulBF16(p, out, x, m.w, 1, m.in, m.out)
						}
					}
					secs[i][t] = append(secs[i][t], time.Since(start).Seconds())
				}
			}
		}
		median := func(s []float64) float64 {
			slices.Sort(s)
			return s[len(s)/2]
		}
		b.ReportMetric(2*float64(bytes)/median(f32Secs)/1e9, "F32-GB/s")
		for i, k := range sets {
			for t, typ := range []string{"F16", "BF16"} {
				b.ReportMetric(float64(bytes)/median(secs[i][t])/1e9, typ+"/"+k.name+"-GB/s")
			}
		}
	})
	for _, typ := range []string{"F16", "BF16"} {
		for _, k := range halfKernelSets() {
			b.Run(typ+"/"+k.name, func(b *testing.B) {
				useHalfKernels(b, k)
				p := benchPool(b)
				for b.Loop() {
					for _, m := range mats {
						if typ == "F16" {
							MatMulF16(p, out, x, m.w, 1, m.in, m.out)
						} else {
							MatMulBF16(p, out, x, m.w, 1, m.in, m.out)
						}
					}
				}
				sec := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(1/sec, "tok/s")
				b.ReportMetric(float64(bytes)/sec/1e9, "GB/s")
			})
		}
	}
}

// BenchmarkMatMulHalfShapes times one row of x on each Llama-110M
// projection with F16 and BF16 weights (a shape's weights stay in cache
// between calls, unlike in decode).
func BenchmarkMatMulHalfShapes(b *testing.B) {
	rng := rand.New(rand.NewPCG(4, 16))
	for _, s := range benchShapes {
		w := randF16(rng, s.out*s.in)
		x, out := randVec(rng, s.in), make([]float32, s.out)
		for _, typ := range []string{"F16", "BF16"} {
			for _, k := range halfKernelSets() {
				b.Run(fmt.Sprintf("%s/%s/%s", typ, s.name, k.name), func(b *testing.B) {
					useHalfKernels(b, k)
					p := benchPool(b)
					for b.Loop() {
						if typ == "F16" {
							MatMulF16(p, out, x, w, 1, s.in, s.out)
						} else {
							MatMulBF16(p, out, x, w, 1, s.in, s.out)
						}
					}
					sec := b.Elapsed().Seconds() / float64(b.N)
					b.ReportMetric(float64(s.out*s.in)/sec/1e9, "Gw/s")
					b.ReportMetric(2*float64(s.out*s.in)/sec/1e9, "GB/s")
				})
			}
		}
	}
}
