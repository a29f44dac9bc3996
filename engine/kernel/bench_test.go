package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine/gguf"
)

// benchShapes are the Llama-110M projections: [outDim, in].
var benchShapes = []struct {
	name    string
	out, in int
}{
	{"768x768", 768, 768}, {"2048x768", 2048, 768}, {"768x2048", 768, 2048}, {"32000x768", 32000, 768},
}

func benchMatMul(b *testing.B, ref, bf bool) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range benchShapes {
		w := randVec(rng, s.out*s.in)
		wb := randBF16(rng, s.out*s.in)
		for _, rows := range []int{1, 8, 32, 128} {
			if ref && (rows > 8 || s.out > 2048) {
				continue // the scalar twin is too slow to be worth waiting for
			}
			x := randVec(rng, rows*s.in)
			out := make([]float32, rows*s.out)
			b.Run(fmt.Sprintf("%s/rows=%d", s.name, rows), func(b *testing.B) {
				p := benchPool(b)
				for b.Loop() {
					switch {
					case ref:
						refMatMul(out, x, w, rows, s.in, s.out)
					case bf:
						MatMulBF16(p, out, x, wb, rows, s.in, s.out)
					default:
						MatMul(p, out, x, w, rows, s.in, s.out)
					}
				}
				sec := b.Elapsed().Seconds() / float64(b.N)
				bytes := float64(s.out * s.in * 4)
				if bf {
					bytes /= 2
				}
				b.ReportMetric(bytes/sec/1e9, "GB/s")
				b.ReportMetric(2*float64(rows*s.out*s.in)/sec/1e9, "GFLOP/s")
			})
		}
	}
}

func BenchmarkMatMul(b *testing.B)          { benchMatMul(b, false, false) }
func BenchmarkMatMulBF16(b *testing.B)      { benchMatMul(b, false, true) }
func BenchmarkMatMulReference(b *testing.B) { benchMatMul(b, true, false) }

// BenchmarkReadBandwidth sums a 512 MiB slice on all cores: the memory
// bound that single-stream decode is measured against.
func BenchmarkReadBandwidth(b *testing.B) {
	p := NewPool(0)
	defer p.Close()
	x := make([]float32, 128<<20)
	for i := range x {
		x[i] = 1
	}
	ones := make([]float32, 1<<16)
	for i := range ones {
		ones[i] = 1
	}
	const block = 1 << 16
	sums := make([]float32, len(x)/block)
	for b.Loop() {
		p.Run(len(sums), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				sums[i] = Dot(x[i*block:(i+1)*block], ones)
			}
		})
	}
	b.ReportMetric(float64(len(x)*4)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

func BenchmarkVecOps(b *testing.B) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, n := range []int{2048, 32000} {
		x, y := randVec(rng, n), randVec(rng, n)
		out := make([]float32, n)
		b.Run(fmt.Sprintf("SiLUMul/%d", n), func(b *testing.B) {
			for b.Loop() {
				SiLUMul(out, x, y)
			}
		})
		b.Run(fmt.Sprintf("Softmax/%d", n), func(b *testing.B) {
			for b.Loop() {
				copy(out, x)
				Softmax(out)
			}
		})
		b.Run(fmt.Sprintf("RMSNorm/%d", n), func(b *testing.B) {
			for b.Loop() {
				RMSNorm(out, x, y, 1e-5)
			}
		})
	}
}

// BenchmarkMatMulQ times each weight format on the 2048x768 projection, with
// F32 run first in the same process as the baseline of the printed ratios.
// For row counts the fused kernels take, each type also runs on decoded
// panels (name .../panel) first, and the fused run reports x_panel, its
// speed-up over them in the same process.
func BenchmarkMatMulQ(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	const outDim, in = 2048, 768
	w32, wh := randVec(rng, outDim*in), randF16(rng, outDim*in)
	base := map[int]float64{}
	for _, rows := range []int{1, 4, 32, 256} {
		x, out := randVec(rng, rows*in), make([]float32, rows*outDim)
		for _, typ := range append([]gguf.Type{gguf.TypeF32, gguf.TypeF16}, QuantTypes...) {
			wq := randomQ(rng, typ, outDim, in)
			fused := qdotKernels[typ]
			modes := []string{""}
			if fused != nil && rows <= qdotMaxRows {
				modes = []string{"/panel", ""}
			}
			var panel float64
			for _, mode := range modes {
				b.Run(fmt.Sprintf("%s/rows=%d%s", typ, rows, mode), func(b *testing.B) {
					p := benchPool(b)
					if mode != "" {
						delete(qdotKernels, typ)
						defer func() { qdotKernels[typ] = fused }()
					}
					for b.Loop() {
						switch typ {
						case gguf.TypeF32:
							MatMul(p, out, x, w32, rows, in, outDim)
						case gguf.TypeF16:
							MatMulF16(p, out, x, wh, rows, in, outDim)
						default:
							MatMulQ(p, out, x, wq, typ, rows, in, outDim)
						}
					}
					sec := b.Elapsed().Seconds() / float64(b.N)
					if typ == gguf.TypeF32 {
						base[rows] = sec
					}
					bytes := float64(outDim*in/typ.BlockSize()) * float64(typ.BlockBytes())
					b.ReportMetric(bytes/sec/1e9, "GB/s")
					b.ReportMetric(base[rows]/sec, "x_f32")
					if mode != "" {
						panel = sec
					} else if panel > 0 {
						b.ReportMetric(panel/sec, "x_panel")
					}
				})
			}
		}
	}
}
