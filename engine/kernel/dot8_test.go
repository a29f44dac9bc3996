package kernel

import (
	"encoding/binary"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/graft-ai/graft/engine/gguf"
)

// intTypes lists the types with an integer dot, in a fixed order.
func intTypes() []gguf.Type {
	var ts []gguf.Type
	for _, t := range QuantTypes {
		if intDots[t] != nil {
			ts = append(ts, t)
		}
	}
	return ts
}

// dequantAct decodes activation blocks of format f into float32.
func dequantAct(f actFormat, xq []byte, n int) []float32 {
	out := make([]float32, n)
	bs, bb := f.blockSize(), f.blockBytes()
	for b := range n / bs {
		blk := xq[b*bb:]
		var d float32
		off := 2
		switch f {
		case actQ8_0:
			d = half(blk)
		case actQ8_1: // s (at 2) is the dot's business: q81Terms
			d, off = half(blk), 4
		default:
			d, off = math.Float32frombits(binary.LittleEndian.Uint32(blk)), 4
		}
		for j := range bs {
			out[b*bs+j] = d * float32(int8(blk[off+j]))
		}
	}
	return out
}

// TestQuantizeQ8_0Act: the activation quantizer writes the bytes of
// gguf.QuantizeQ8_0 (ggml's quantize_row_q8_0_ref) on finite rows of every
// magnitude, zero blocks included.
func TestQuantizeQ8_0Act(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 8))
	for _, scale := range []float64{0, 1e-30, 1e-6, 1, 3.5, 1e4, 1e30} {
		x := randomX(r, 32*64)
		for i := range x {
			x[i] *= float32(scale)
		}
		x[5] = 0.5 / 127 * x[0] // ties of the rounding
		want, got := make([]byte, 64*34), make([]byte, 64*34)
		gguf.QuantizeQ8_0(want, x)
		quantizeQ8_0Act(got, x)
		if !slices.Equal(got, want) {
			t.Fatalf("scale %g: quantized activations differ from ggml's", scale)
		}
	}
}

// TestMatMulQ8: for every type with an integer dot, serial and on the pool,
// each output is within float32 rounding of a float64 dot of the
// dequantized activation blocks with the dequantized weights, and within
// the activation rounding bound of MatMulQ on the float x: per value at most
// half a step d plus the half rounding of d (2^-11·127·d), d = amax/127 of
// its block, i.e. |Δ| ≤ Σ_k |w_k|·0.5625·d_k.
func TestMatMulQ8(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 8))
	pool := NewPool(2)
	defer pool.Close()
	for _, typ := range intTypes() {
		id := intDots[typ]
		in := 2 * max(typ.BlockSize(), 256)
		const outDim = 37
		w := randomQ(r, typ, outDim, in)
		wf := make([]float32, outDim*in)
		if err := gguf.Dequantize(typ, wf, w); err != nil {
			t.Fatal(err)
		}
		for _, rows := range []int{1, 2, 5, 9} {
			x := randomX(r, rows*in)
			xq := make([]byte, rows*in/id.act.blockSize()*id.act.blockBytes())
			id.quantize(xq, x)
			xd := dequantAct(id.act, xq, rows*in)
			exact, abs, float := make([]float32, rows*outDim), make([]float32, rows*outDim), make([]float32, rows*outDim)
			refMatMul(exact, xd, wf, rows, in, outDim)
			refAbsMatMul(abs, xd, wf, rows, in, outDim)
			MatMulQ(nil, float, x, w, typ, rows, in, outDim)
			for _, p := range []*Pool{nil, pool} {
				got := make([]float32, rows*outDim)
				MatMulQ8(p, got, x, w, typ, rows, in, outDim)
				for i, g := range got {
					ro, c := i/outDim, i%outDim
					want, bound := float64(exact[i]), quantBound(x[ro*in:(ro+1)*in], wf[c*in:(c+1)*in], id.act.blockSize())
					if id.act == actQ8_1 {
						nb := in / 32
						var corr float64
						corr, bound = q81Terms(typ, x[ro*in:(ro+1)*in], xq[ro*nb*q8_1Bytes:(ro+1)*nb*q8_1Bytes], w[c*nb*typ.BlockBytes():(c+1)*nb*typ.BlockBytes()], wf[c*in:(c+1)*in])
						want += corr
					}
					if d := math.Abs(float64(g) - want); d > matMulTol(abs[i], in) {
						t.Fatalf("%s rows %d: out[%d] = %g, float64 dot of the quantized activations %g", typ, rows, i, g, want)
					}
					if d, b := math.Abs(float64(g-float[i])), bound; d > b+matMulTol(abs[i], in) {
						t.Fatalf("%s rows %d: out[%d] = %g, %g on float activations: %g apart, bound %g", typ, rows, i, g, float[i], d, b)
					}
				}
			}
		}
	}
}

// quantBound is Σ_k |w_k|·0.5625·amax_block/127, the activation rounding's
// worst effect on x·w.
func quantBound(x, w []float32, bs int) float64 {
	var s float64
	for b := 0; b < len(x); b += bs {
		var amax, wsum float64
		for k := b; k < b+bs; k++ {
			amax = max(amax, math.Abs(float64(x[k])))
			wsum += math.Abs(float64(w[k]))
		}
		s += wsum * 0.5625 * amax / 127
	}
	return s
}

// TestMatMulQ8BatchInvariance: a row's outputs are bit-identical alone and
// in batches of 2..33 rows, serial or on the pool.
func TestMatMulQ8BatchInvariance(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 8))
	const rows, outDim = 33, 21
	pool := NewPool(2)
	defer pool.Close()
	for _, typ := range intTypes() {
		in := 2 * max(typ.BlockSize(), 256)
		x := randomX(r, rows*in)
		w := randomQ(r, typ, outDim, in)
		alone := make([]float32, rows*outDim)
		for ro := range rows {
			MatMulQ8(nil, alone[ro*outDim:(ro+1)*outDim], x[ro*in:(ro+1)*in], w, typ, 1, in, outDim)
		}
		for n := 2; n <= rows; n++ {
			for _, p := range []*Pool{nil, pool} {
				out := make([]float32, n*outDim)
				MatMulQ8(p, out, x[:n*in], w, typ, n, in, outDim)
				for i := range out {
					if math.Float32bits(out[i]) != math.Float32bits(alone[i]) {
						t.Fatalf("%s batch %d pool %v: output %d is %g, alone %g", typ, n, p != nil, i, out[i], alone[i])
					}
				}
			}
		}
	}
}

// TestMatMulQ8NoAlloc: after the first call sizes the pool's scratch, a
// decode step's integer matmul allocates nothing, on the pool or serial.
func TestMatMulQ8NoAlloc(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 8))
	const in, outDim = 512, 64
	pool := NewPool(2)
	defer pool.Close()
	x, out := randomX(r, 4*in), make([]float32, 4*outDim)
	for _, typ := range intTypes() {
		w := randomQ(r, typ, outDim, in)
		for _, p := range []*Pool{pool, nil} {
			MatMulQ8(p, out, x, w, typ, 4, in, outDim)
			if n := testing.AllocsPerRun(20, func() { MatMulQ8(p, out, x[:in], w, typ, 1, in, outDim) }); n != 0 {
				t.Errorf("%s pool %v: %v allocations per call", typ, p != nil, n)
			}
		}
	}
}

// refIntDots are the portable references of this file's types, which the
// SIMD kernels in intDots must match bit for bit.
var refIntDots = map[gguf.Type]qdotIFunc{
	gguf.TypeQ4_0: tileOf(dotQ4_0Q8_0, 34, 18),
	gguf.TypeQ8_0: tileOf(dotQ8_0Q8_0, 34, 34),
	gguf.TypeQ5_0: tileOf(dotQ5_0Q8_0, 34, 22),
	gguf.TypeQ4_1: tileOf(dotQ4_1Q8_1, q8_1Bytes, 20),
	gguf.TypeQ5_1: tileOf(dotQ5_1Q8_1, q8_1Bytes, 24),
}

// FuzzDot8: on arbitrary weight blocks and activations (NaN and Inf scales
// or values included) the kernel of every tile shape, and MatMulQ8 (whose
// several rows take the batched tiles), give the reference's bits (NaN
// for NaN), without crashing.
func FuzzDot8(f *testing.F) {
	f.Add(uint8(0), uint8(3), uint8(3), uint64(1), []byte{}, []byte{})
	f.Add(uint8(1), uint8(0), uint8(3), uint64(2), []byte{0, 0x7c}, []byte{0, 0, 0x80, 0x7f})
	f.Fuzz(func(t *testing.T, typ, rows, cols uint8, seed uint64, blocks, xbits []byte) {
		types := []gguf.Type{gguf.TypeQ4_0, gguf.TypeQ8_0, gguf.TypeQ5_0, gguf.TypeQ4_1, gguf.TypeQ5_1}
		qt := types[int(typ)%len(types)]
		id := intDots[qt]
		R, C := 1+int(rows)%4, 1+int(cols)%4
		rng := rand.New(rand.NewPCG(seed, 8))
		nb := 1 + int(seed%5)
		in := nb * qt.BlockSize()
		w := randomQ(rng, qt, C, in)
		copy(w, blocks)
		x := randomX(rng, R*in)
		for i := 0; i+4 <= len(xbits) && i/4 < len(x); i += 4 {
			x[i/4] = math.Float32frombits(binary.LittleEndian.Uint32(xbits[i:]))
		}
		ldx := nb * id.act.blockBytes()
		xq := make([]byte, R*ldx)
		for r := range R {
			id.quantize(xq[r*ldx:(r+1)*ldx], x[r*in:(r+1)*in])
		}
		ldw := nb * qt.BlockBytes()
		want := make([]float32, R*C)
		refIntDots[qt](&want[0], C, &xq[0], ldx, &w[0], ldw, nb, R, C)
		for r := 1; r <= R; r++ {
			for c := 1; c <= C; c++ {
				got := make([]float32, r*C)
				id.dot(&got[0], C, &xq[0], ldx, &w[0], ldw, nb, r, c)
				for i := range r {
					for j := range c {
						g, h := got[i*C+j], want[i*C+j]
						if math.Float32bits(g) != math.Float32bits(h) && !(g != g && h != h) {
							t.Fatalf("%s %dx%d tile, nb %d: out[%d][%d] = %g, reference %g", qt, r, c, nb, i, j, g, h)
						}
					}
				}
			}
		}
		// the whole matmul: several rows take the batched tiles
		got := make([]float32, R*C)
		MatMulQ8(nil, got, x, w, qt, R, in, C)
		for i, g := range got {
			if h := want[i]; math.Float32bits(g) != math.Float32bits(h) && !(g != g && h != h) {
				t.Fatalf("%s MatMulQ8 of %d rows, %d columns, nb %d: out[%d] = %g, reference %g", qt, R, C, nb, i, g, h)
			}
		}
	})
}

// BenchmarkDecodeQ8 is one decode row against a 768×2304 matrix (the 110M
// model's fused width), integer dots against the float path.
func BenchmarkDecodeQ8(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 8))
	const in, outDim = 768, 2304
	pool := NewPool(0)
	defer pool.Close()
	for _, typ := range intTypes() {
		if in%typ.BlockSize() != 0 {
			continue
		}
		w := randomQ(r, typ, outDim, in)
		x, out := randomX(r, in), make([]float32, outDim)
		for _, mode := range []string{"int8", "float"} {
			f := MatMulQ8
			if mode == "float" {
				f = MatMulQ
			}
			b.Run(typ.String()+"/"+mode, func(b *testing.B) {
				b.SetBytes(int64(len(w)))
				for b.Loop() {
					f(pool, out, x, w, typ, 1, in, outDim)
				}
			})
		}
	}
}

// BenchmarkPrefillQ8 is 64 rows against the same matrix.
func BenchmarkPrefillQ8(b *testing.B) {
	r := rand.New(rand.NewPCG(6, 8))
	const rows, in, outDim = 64, 768, 2304
	pool := NewPool(0)
	defer pool.Close()
	for _, typ := range intTypes() {
		if in%typ.BlockSize() != 0 {
			continue
		}
		w := randomQ(r, typ, outDim, in)
		x, out := randomX(r, rows*in), make([]float32, rows*outDim)
		for _, mode := range []string{"int8", "float"} {
			f := MatMulQ8
			if mode == "float" {
				f = MatMulQ
			}
			b.Run(typ.String()+"/"+mode, func(b *testing.B) {
				for b.Loop() {
					f(pool, out, x, w, typ, rows, in, outDim)
				}
				b.ReportMetric(float64(b.N*rows*in*outDim)/b.Elapsed().Seconds()/1e9, "Gmac/s")
			})
		}
	}
}

// TestFMA32: the reference's float32 fused multiply-add rounds a·b+c once,
// as math/big's exact sum rounded to float32 does, across exponents, on
// near-cancellations and on ties.
func TestFMA32(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	f := func() float32 {
		m := float32(r.NormFloat64())
		return float32(math.Ldexp(float64(m), r.IntN(60)-30))
	}
	for i := range 200000 {
		a, b, c := f(), f(), f()
		switch i % 4 {
		case 1:
			c = -a * b // near cancellation
		case 2:
			a = float32(r.IntN(1 << 16)) // the kernels' lane sums
		}
		x, y, z := new(big.Float).SetPrec(200).SetFloat64(float64(a)), new(big.Float).SetFloat64(float64(b)), new(big.Float).SetFloat64(float64(c))
		want, _ := x.Add(x.Mul(x, y), z).Float32()
		if got := fma32(a, b, c); math.Float32bits(got) != math.Float32bits(want) && !(got == 0 && want == 0) {
			t.Fatalf("fma32(%g, %g, %g) = %g, want %g", a, b, c, got, want)
		}
	}
}

// TestMatMulQ8BatchedSpecial: with Inf, NaN, subnormal and zero scales in
// the weights and huge, tiny and zero activation blocks, every row of a
// batch (the batched kernels, tails of 1 to 3 rows and columns and odd
// block counts included) has the bits it has alone (NaN for NaN).
func TestMatMulQ8BatchedSpecial(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 8))
	halves := []uint16{0x7c00, 0xfc00, 0x7e00, 0x0001, 0x8000, 0x0000, 0x7bff}
	var special int
	for _, typ := range intTypes() {
		if intDots[typ].act == actQ8_K {
			continue
		}
		const outDim = 11
		for _, in := range []int{96, 288} {
			w := randomQ(r, typ, outDim, in)
			for i := 0; i < len(w); i += typ.BlockBytes() * 3 {
				for _, o := range gguf.ScaleOffsets(typ) { // d, and Q4_1's and Q5_1's m
					binary.LittleEndian.PutUint16(w[i+o:], halves[r.IntN(len(halves))])
				}
			}
			for _, rows := range []int{2, 3, 5, 7, 9} {
				x := randomX(r, rows*in)
				for b := 0; b < len(x); b += 32 * 5 {
					switch r.IntN(3) {
					case 0:
						x[b] = 3e38
					case 1:
						for k := range 32 {
							x[b+k] = 1e-40
						}
					default:
						clear(x[b : b+32])
					}
				}
				got, alone := make([]float32, rows*outDim), make([]float32, rows*outDim)
				MatMulQ8(nil, got, x, w, typ, rows, in, outDim)
				for ro := range rows {
					MatMulQ8(nil, alone[ro*outDim:(ro+1)*outDim], x[ro*in:(ro+1)*in], w, typ, 1, in, outDim)
				}
				for i := range got {
					g, a := got[i], alone[i]
					if math.Float32bits(g) != math.Float32bits(a) && !(g != g && a != a) {
						t.Fatalf("%s rows %d: out[%d] = %g, alone %g", typ, rows, i, g, a)
					}
					if g != g || math.IsInf(float64(g), 0) {
						special++
					}
				}
			}
		}
	}
	if special == 0 {
		t.Fatal("no NaN or Inf output: the special values did not reach the dots")
	}
}
