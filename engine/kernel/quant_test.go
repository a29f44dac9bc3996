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

// TestMatMulQMatchesDequantized: for every type, MatMulQ is within the
// activation-quantization error bound of a float64 product of x with the
// dequantized weights. The bound is exact arithmetic: each activation moves
// by at most half its block's step d/2, so |err| ≤ Σ_b d_b/2 · Σ_{i∈b}|w_i|,
// plus float32 rounding of the sums.
func TestMatMulQMatchesDequantized(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 14))
	const rows, in, outDim = 5, 512, 19
	x := randomX(r, rows*in)
	x[7] = 0 // a zero and a constant block exercise d = 0 and ties
	for i := 64; i < 96; i++ {
		x[i] = 0
	}
	pool := NewPool(2)
	defer pool.Close()
	for _, typ := range QuantTypes {
		w := randomQ(r, typ, outDim, in)
		wf := make([]float32, outDim*in)
		if err := gguf.Dequantize(typ, wf, w); err != nil {
			t.Fatal(err)
		}
		out := make([]float32, rows*outDim)
		MatMulQ(pool, out, x, w, typ, rows, in, outDim)
		worst := 0.0
		for ro := range rows {
			for c := range outDim {
				var exact, bound, mag float64
				for b := 0; b < in; b += 32 {
					var amax, wabs float64
					for i := b; i < b+32; i++ {
						xv, wv := float64(x[ro*in+i]), float64(wf[c*in+i])
						exact += xv * wv
						mag += math.Abs(xv * wv)
						amax = max(amax, math.Abs(xv))
						wabs += math.Abs(wv)
					}
					bound += float64(float32(amax)/127) / 2 * wabs
				}
				got := float64(out[ro*outDim+c])
				tol := bound*1.001 + 1e-5*mag
				if e := math.Abs(got - exact); e > tol {
					t.Errorf("%s [%d,%d]: got %g, float64 %g: error %g over the bound %g", typ, ro, c, got, exact, e, tol)
				} else if bound > 0 {
					worst = max(worst, e/bound)
				}
			}
		}
		t.Logf("%s: worst error %.3f of the quantization bound", typ, worst)
	}
}

// TestMatMulQEqualsReference: the kernel set in use (SIMD where the CPU has
// it) computes the same integer sums as the portable recipe; only the order
// of the float scaling may differ.
func TestMatMulQEqualsReference(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 14))
	const rows, in, outDim = 7, 768, 13
	x := randomX(r, rows*in)
	var a qacts
	a.quantize(x, rows, in)
	for _, typ := range QuantTypes {
		w := randomQ(r, typ, outDim, in)
		out := make([]float32, rows*outDim)
		MatMulQ(nil, out, x, w, typ, rows, in, outDim)
		rb := in / typ.BlockSize() * typ.BlockBytes()
		for ro := range rows {
			for c := range outDim {
				want := dotQGo(typ, w[c*rb:(c+1)*rb], &a, ro, in)
				got := out[ro*outDim+c]
				// float32 sums of in/16 terms in two orders: each may be off by
				// about in/16 roundings of the terms' magnitude.
				if math.Abs(float64(got-want)) > float64(in/16)*0x1p-24*2*magQ(typ, w[c*rb:(c+1)*rb], &a, ro, in) {
					t.Errorf("%s [%d,%d]: %s kernel %g, portable %g", typ, ro, c, Level(), got, want)
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

// magQ is Σ|term| over the terms dotQGo adds.
func magQ(t gguf.Type, w []byte, a *qacts, row, in int) float64 {
	var u sub32
	var mag float64
	for b := range in / 32 {
		unpack32(t, w[(b*32/t.BlockSize())*t.BlockBytes():], (b*32%t.BlockSize())/32, &u)
		dx := math.Abs(float64(a.d[row*in/32+b]))
		for h := range 2 {
			var isum int64
			for i := 16 * h; i < 16*h+16; i++ {
				isum += int64(u.q[i]) * int64(a.q[row*in+32*b+i])
			}
			mag += dx * (math.Abs(float64(u.sc[h])*float64(isum)) + math.Abs(float64(u.mn[h])*float64(a.s[row*in/16+2*b+h])))
		}
	}
	return mag
}
