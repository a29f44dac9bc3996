//go:build goexperiment.simd && amd64

package kernel

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/graft-ai/graft/engine/gguf"
)

// BenchmarkDot8Stream streams a Q8_0 matrix of the 110M model's bytes
// (more than the caches) through each lone-row kernel on one thread, next
// to a plain read of the same bytes: whether the kernels keep up with
// memory, without the pool.
func BenchmarkDot8Stream(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 9))
	const in, rows = 768, 140000
	typ := gguf.TypeQ8_0
	w := randomQ(r, typ, rows, in)
	x := randomX(r, in)
	nb := in / 32
	xq := make([]byte, nb*34)
	quantizeQ8_0Act(xq, x)
	out := make([]float32, rows)
	ldw := nb * typ.BlockBytes()
	gbs := func(b *testing.B) {
		b.ReportMetric(float64(len(w))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	}
	b.Run("read", func(b *testing.B) {
		var s uint64
		for b.Loop() {
			s += sumBytes(w)
		}
		gbs(b)
	})
	for c := 1; c <= 4; c++ {
		k := dot8AVX2[typ][0][c-1]
		b.Run(fmt.Sprintf("1x%d", c), func(b *testing.B) {
			for b.Loop() {
				for r := 0; r+c <= rows; r += c {
					k(&out[r], 0, &xq[0], 0, &w[r*ldw], ldw, nb)
				}
			}
			gbs(b)
		})
	}
}

// sumBytes is SumWords over the bytes of x (a multiple of 64 long).
func sumBytes(x []byte) uint64 {
	return SumWords(unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(x))), len(x)/8))
}

// readPass is graft bench engine's bandwidth pass over a decode step's
// bytes on the step's own pool: summed in 256 KiB blocks, one sum per
// block, so the pool's participants write their own.
type readPass struct {
	p    *Pool
	buf  []byte
	sums []uint64
}

const readBlock = 256 << 10

func newReadPass(p *Pool, bytes int) *readPass {
	r := &readPass{p: p, buf: make([]byte, (bytes+readBlock-1)/readBlock*readBlock)}
	for i := range r.buf {
		r.buf[i] = 1 // touch every page, so the passes read memory, not the zero page
	}
	r.sums = make([]uint64, len(r.buf)/readBlock)
	return r
}

func (r *readPass) run() {
	r.p.Run(len(r.sums), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			r.sums[i] = sumBytes(r.buf[i*readBlock : (i+1)*readBlock])
		}
	})
}

var (
	stepRows = flag.Int("steprows", 1, "rows (streams) of BenchmarkDecodeStepQ8")
	stepType = flag.String("steptype", "q8_0", "weight type of BenchmarkDecodeStepQ8: q8_0, q4_0 or q5_0")
)

// BenchmarkDecodeStepQ8 runs the matmuls of a 110M decode step of
// -steprows streams as the CPU backend issues them (Q/K/V and gate/up
// through MatMulQ8Many where it takes them, O, down, then the output layer),
// each layer with its own weights, on a pool of -threads. Steps alternate
// with graft bench engine's read pass over as many bytes on the same pool,
// so that other load on the host falls on both alike: bound_pct is the
// step's speed as a percentage of the read's, the bound that single-stream
// decode is measured against. The kernels prefetch and that pass does not:
// on one thread they beat it (bound_pct above 100).
func BenchmarkDecodeStepQ8(b *testing.B) { decodeStepQ8(b) }

// BenchmarkDecodeStepQ8Row is BenchmarkDecodeStepQ8 with the lone row's
// ranges read as four strided streams (streamRow.row, where a quarter is
// long enough) and as tiles in order (none): with -count=N the two
// alternate in one process, so other load falls on both alike.
func BenchmarkDecodeStepQ8Row(b *testing.B) {
	defer func(m int) { rowMinStream = m }(rowMinStream)
	for _, m := range []struct {
		name string
		min  int
	}{{"strided", defaultRowMinStream}, {"inorder", 1 << 40}} {
		b.Run(m.name, func(b *testing.B) {
			rowMinStream = m.min
			decodeStepQ8(b)
		})
	}
}

func decodeStepQ8(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	const dim, ffn, vocab, layers = 768, 2048, 32000, 12
	typ := map[string]gguf.Type{"q8_0": gguf.TypeQ8_0, "q4_0": gguf.TypeQ4_0, "q5_0": gguf.TypeQ5_0}[*stepType]
	R := *stepRows
	type layer struct{ q, k, v, o, g, u, d []byte }
	var ls []layer
	bytes := 0
	for range layers {
		l := layer{randomQ(rng, typ, dim, dim), randomQ(rng, typ, dim, dim), randomQ(rng, typ, dim, dim),
			randomQ(rng, typ, dim, dim), randomQ(rng, typ, ffn, dim), randomQ(rng, typ, ffn, dim), randomQ(rng, typ, dim, ffn)}
		ls = append(ls, l)
		bytes += 4*len(l.q) + 2*len(l.g) + len(l.d)
	}
	outW := randomQ(rng, typ, vocab, dim)
	bytes += len(outW)
	x := randVec(rng, R*ffn)
	q, k, v, o := make([]float32, R*dim), make([]float32, R*dim), make([]float32, R*dim), make([]float32, R*dim)
	g, u, d, logits := make([]float32, R*ffn), make([]float32, R*ffn), make([]float32, R*dim), make([]float32, R*vocab)
	xd, xf := x[:R*dim], x[:R*ffn]
	p := benchPool(b)
	step := func() {
		for _, l := range ls {
			if !MatMulQ8Many(p, xd, R, dim, []QProj{{Out: q, W: l.q, T: typ, OutDim: dim}, {Out: k, W: l.k, T: typ, OutDim: dim}, {Out: v, W: l.v, T: typ, OutDim: dim}}) {
				MatMulQ8(p, q, xd, l.q, typ, R, dim, dim)
				MatMulQ8(p, k, xd, l.k, typ, R, dim, dim)
				MatMulQ8(p, v, xd, l.v, typ, R, dim, dim)
			}
			MatMulQ8(p, o, xd, l.o, typ, R, dim, dim)
			if !MatMulQ8Many(p, xd, R, dim, []QProj{{Out: g, W: l.g, T: typ, OutDim: ffn}, {Out: u, W: l.u, T: typ, OutDim: ffn}}) {
				MatMulQ8(p, g, xd, l.g, typ, R, dim, ffn)
				MatMulQ8(p, u, xd, l.u, typ, R, dim, ffn)
			}
			MatMulQ8(p, d, xf, l.d, typ, R, ffn, dim)
		}
		MatMulQ8(p, logits, xd, outW, typ, R, dim, vocab)
	}
	read := newReadPass(p, bytes)
	var tStep, tRead time.Duration
	for b.Loop() {
		s := time.Now()
		step()
		tStep += time.Since(s)
		s = time.Now()
		read.run()
		tRead += time.Since(s)
	}
	b.ReportMetric(float64(R*b.N)/tStep.Seconds(), "tok/s")
	b.ReportMetric(100*tRead.Seconds()/tStep.Seconds(), "bound_pct")
}
