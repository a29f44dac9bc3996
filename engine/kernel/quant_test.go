package kernel

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine/gguf"
)

// randomQ returns rows×in weights of type t as random blocks whose scales
// are random finite halves of moderate size: every bit pattern of the
// quants is a valid block.
func randomQ(r *rand.Rand, t gguf.Type, rows, in int) []byte {
	nb := rows * in / t.BlockSize()
	w := make([]byte, nb*t.BlockBytes())
	for i := range w {
		w[i] = byte(r.Uint32())
	}
	for b := range nb {
		for _, o := range gguf.ScaleOffsets(t) {
			// exponents 2^-10 .. 2^-3, either sign
			h := uint16(5+r.IntN(8))<<10 | uint16(r.IntN(1024)) | uint16(r.IntN(2))<<15
			binary.LittleEndian.PutUint16(w[b*t.BlockBytes()+o:], h)
		}
	}
	return w
}

func randomX(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// TestMatMulQEqualsDequantized: for every type, serial and on the pool and
// for several row counts, MatMulQ gives exactly MatMul's bits on the matrix
// that gguf.Dequantize (ggml's reference decoding) makes of w.
func TestMatMulQEqualsDequantized(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 14))
	const in, outDim = 512, 83 // not a multiple of any panel or tile width
	pool := NewPool(2)
	defer pool.Close()
	for _, typ := range QuantTypes {
		w := randomQ(r, typ, outDim, in)
		wf := make([]float32, outDim*in)
		if err := gguf.Dequantize(typ, wf, w); err != nil {
			t.Fatal(err)
		}
		for _, rows := range []int{1, 2, 3, 4, 5, 7, 40} {
			x := randomX(r, rows*in)
			want := make([]float32, rows*outDim)
			MatMul(nil, want, x, wf, rows, in, outDim)
			for _, p := range []*Pool{nil, pool} {
				got := make([]float32, rows*outDim)
				MatMulQ(p, got, x, w, typ, rows, in, outDim)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s rows %d pool %v: output %d is %g, MatMul on the dequantized weights %g",
							typ, rows, p != nil, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestMatMulQBatchInvariance: a row's outputs are bit-identical alone and in
// batches of every size, serial or on the pool.
func TestMatMulQBatchInvariance(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 14))
	const rows, in, outDim = 11, 512, 37
	x := randomX(r, rows*in)
	pool := NewPool(2)
	defer pool.Close()
	for _, typ := range QuantTypes {
		w := randomQ(r, typ, outDim, in)
		alone := make([]float32, rows*outDim)
		for ro := range rows {
			MatMulQ(nil, alone[ro*outDim:(ro+1)*outDim], x[ro*in:(ro+1)*in], w, typ, 1, in, outDim)
		}
		for _, n := range []int{2, 3, 4, 5, 8, 11} {
			for _, p := range []*Pool{nil, pool} {
				out := make([]float32, n*outDim)
				MatMulQ(p, out, x[:n*in], w, typ, n, in, outDim)
				for i := range out {
					if math.Float32bits(out[i]) != math.Float32bits(alone[i]) {
						t.Fatalf("%s batch %d: output %d is %g, alone %g", typ, n, i, out[i], alone[i])
					}
				}
			}
		}
	}
}

// TestMatMulQNoAlloc: after the first call sizes the pool's scratch, a decode
// step's quantized matmul allocates nothing.
func TestMatMulQNoAlloc(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 14))
	const in, outDim = 256, 64
	pool := NewPool(2)
	defer pool.Close()
	x, out := randomX(r, 4*in), make([]float32, 4*outDim)
	for _, typ := range QuantTypes {
		w := randomQ(r, typ, outDim, in)
		MatMulQ(pool, out, x, w, typ, 4, in, outDim)
		if n := testing.AllocsPerRun(20, func() { MatMulQ(pool, out, x[:in], w, typ, 1, in, outDim) }); n != 0 {
			t.Errorf("%s: %v allocations per call", typ, n)
		}
	}
}

// FuzzQDot: on arbitrary block bytes (any scale, NaN and Inf included), the
// matmul of few rows (the fused decode-and-dot kernels where the CPU has
// them) gives the bits of MatMul on gguf.Dequantize's weights, alone and in
// a batch, and stays within float32 rounding of a float64 dot.
func FuzzQDot(f *testing.F) {
	f.Add(uint8(2), uint8(1), uint8(5), uint64(1), []byte{})
	f.Add(uint8(9), uint8(4), uint8(9), uint64(2), randomQ(rand.New(rand.NewPCG(8, 14)), gguf.TypeQ6_K, 3, 256))
	f.Fuzz(func(t *testing.T, typ, rows, outDim uint8, seed uint64, blocks []byte) {
		qt := QuantTypes[int(typ)%len(QuantTypes)]
		r, o := 1+int(rows)%qdotMaxRows, 1+int(outDim)%12
		rng := rand.New(rand.NewPCG(seed, 14))
		in := qt.BlockSize() * (1 + int(seed%3))
		w := randomQ(rng, qt, o, in)
		copy(w, blocks)
		x := randomX(rng, r*in)
		wf := make([]float32, o*in)
		if err := gguf.Dequantize(qt, wf, w); err != nil {
			t.Fatal(err)
		}
		want, got, exact, abs := make([]float32, r*o), make([]float32, r*o), make([]float32, r*o), make([]float32, r*o)
		MatMul(nil, want, x, wf, r, in, o)
		MatMulQ(nil, got, x, w, qt, r, in, o)
		refMatMul(exact, x, wf, r, in, o)
		refAbsMatMul(abs, x, wf, r, in, o)
		for i := range got {
			g, h := float64(got[i]), float64(want[i])
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(math.IsNaN(g) && math.IsNaN(h)) {
				t.Fatalf("%s %dx%dx%d: out[%d] = %g, MatMul on the dequantized weights %g", qt, r, in, o, i, g, h)
			}
			if d := math.Abs(g - float64(exact[i])); d > matMulTol(abs[i], in) {
				t.Fatalf("%s %dx%dx%d: out[%d] = %g, float64 dot %g", qt, r, in, o, i, g, exact[i])
			}
		}
		alone := make([]float32, o)
		MatMulQ(nil, alone, x[(r-1)*in:], w, qt, 1, in, o)
		for c := range alone {
			if math.Float32bits(alone[c]) != math.Float32bits(got[(r-1)*o+c]) && !math.IsNaN(float64(alone[c])) {
				t.Fatalf("%s: row %d col %d = %g in a batch of %d, %g alone", qt, r-1, c, got[(r-1)*o+c], r, alone[c])
			}
		}
	})
}
