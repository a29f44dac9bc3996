package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

var shapes = []struct{ rows, in, out int }{
	{1, 1, 1}, {1, 16, 4}, {3, 17, 5}, {4, 33, 8}, {5, 15, 3}, {9, 100, 13},
	{8, 768, 64}, {13, 257, 31}, {40, 64, 9}, {2, 2048, 12}, {130, 48, 7},
}

func pools(t testing.TB) []*Pool {
	p2, p3 := NewPool(2), NewPool(3)
	t.Cleanup(func() { p2.Close(); p3.Close() })
	return []*Pool{nil, p2, p3}
}

func TestMatMulMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, p := range pools(t) {
		for _, s := range shapes {
			x, w := randVec(rng, s.rows*s.in), randVec(rng, s.out*s.in)
			checkMatMul32(t, p, x, w, s.rows, s.in, s.out)
			wb := randBF16(rng, s.out*s.in)
			got := make([]float32, s.rows*s.out)
			MatMulBF16(p, got, x, wb, s.rows, s.in, s.out)
			compareMatMul(t, "bf16", got, x, widenBF16(wb), s.rows, s.in, s.out)
		}
	}
}

func checkMatMul32(t testing.TB, p *Pool, x, w []float32, rows, in, outDim int) {
	got := make([]float32, rows*outDim)
	MatMul(p, got, x, w, rows, in, outDim)
	compareMatMul(t, "f32", got, x, w, rows, in, outDim)
}

func compareMatMul(t testing.TB, kind string, got, x, w []float32, rows, in, outDim int) {
	t.Helper()
	want := make([]float32, rows*outDim)
	abs := make([]float32, rows*outDim)
	refMatMul(want, x, w, rows, in, outDim)
	refAbsMatMul(abs, x, w, rows, in, outDim)
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= matMulTol(abs[i], in)) {
			t.Fatalf("%s %dx%dx%d: out[%d] = %g, reference %g (|diff| %g > tol %g)",
				kind, rows, in, outDim, i, got[i], want[i], d, matMulTol(abs[i], in))
		}
	}
}

// TestMatMulBatchInvariance checks that each row's outputs are bit-identical
// alone and inside batches of 1..40 rows mixed with other rows, on every pool
// size, for F32 and BF16 weights.
func TestMatMulBatchInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ps := pools(t)
	for _, sh := range []struct{ in, out int }{{1, 1}, {7, 5}, {16, 4}, {17, 13}, {45, 9}, {96, 37}, {773, 21}} {
		const pool = 40
		x := randVec(rng, pool*sh.in)
		w := randVec(rng, sh.out*sh.in)
		wb := randBF16(rng, sh.out*sh.in)
		alone := make([]float32, pool*sh.out)
		aloneB := make([]float32, pool*sh.out)
		for r := 0; r < pool; r++ {
			MatMul(nil, alone[r*sh.out:], x[r*sh.in:], w, 1, sh.in, sh.out)
			MatMulBF16(nil, aloneB[r*sh.out:], x[r*sh.in:], wb, 1, sh.in, sh.out)
		}
		for b := 1; b <= pool; b++ {
			pick := rng.Perm(pool)[:b]
			xb := make([]float32, b*sh.in)
			for i, r := range pick {
				copy(xb[i*sh.in:], x[r*sh.in:(r+1)*sh.in])
			}
			p := ps[b%len(ps)]
			got := make([]float32, b*sh.out)
			gotB := make([]float32, b*sh.out)
			MatMul(p, got, xb, w, b, sh.in, sh.out)
			MatMulBF16(p, gotB, xb, wb, b, sh.in, sh.out)
			for i, r := range pick {
				for o := 0; o < sh.out; o++ {
					if math.Float32bits(got[i*sh.out+o]) != math.Float32bits(alone[r*sh.out+o]) {
						t.Fatalf("f32 in=%d out=%d batch=%d: row %d col %d = %g batched, %g alone",
							sh.in, sh.out, b, r, o, got[i*sh.out+o], alone[r*sh.out+o])
					}
					if math.Float32bits(gotB[i*sh.out+o]) != math.Float32bits(aloneB[r*sh.out+o]) {
						t.Fatalf("bf16 in=%d out=%d batch=%d: row %d col %d = %g batched, %g alone",
							sh.in, sh.out, b, r, o, gotB[i*sh.out+o], aloneB[r*sh.out+o])
					}
				}
			}
		}
	}
}

func TestMatMulDotAgree(t *testing.T) {
	// Dot is the one-row, one-column MatMul and must give the same bits.
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 5, 16, 31, 768, 2049} {
		a, b := randVec(rng, n), randVec(rng, n)
		var out [1]float32
		MatMul(nil, out[:], a, b, 1, n, 1)
		if d := Dot(a, b); math.Float32bits(d) != math.Float32bits(out[0]) {
			t.Fatalf("n=%d: Dot %g, MatMul %g", n, d, out[0])
		}
	}
}

// TestMatMulEqualsDot checks every output of every tile path (blocks, row
// remainders, wide single rows, column remainders) against Dot, bit for bit:
// attention computes scores with Dot and relies on the two agreeing.
func TestMatMulEqualsDot(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, in := range []int{1, 15, 16, 33, 768, 1000} {
		for _, rows := range []int{1, 2, 5, 6, 7, 13, 32} {
			const outDim = 27
			x, w := randVec(rng, rows*in), randVec(rng, outDim*in)
			got := make([]float32, rows*outDim)
			MatMul(nil, got, x, w, rows, in, outDim)
			for r := 0; r < rows; r++ {
				for o := 0; o < outDim; o++ {
					d := Dot(x[r*in:(r+1)*in], w[o*in:(o+1)*in])
					if math.Float32bits(d) != math.Float32bits(got[r*outDim+o]) {
						t.Fatalf("in=%d rows=%d: out[%d][%d] = %g, Dot %g", in, rows, r, o, got[r*outDim+o], d)
					}
				}
			}
		}
	}
}

func TestMatMulNoAlloc(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	p := NewPool(2)
	defer p.Close()
	x, w := randVec(rng, 8*256), randVec(rng, 64*256)
	wb := randBF16(rng, 64*256)
	out := make([]float32, 8*64)
	for _, pp := range []*Pool{nil, p} {
		if n := testing.AllocsPerRun(20, func() {
			MatMul(pp, out, x, w, 8, 256, 64)
			MatMulBF16(pp, out, x, wb, 8, 256, 64)
		}); n != 0 {
			t.Fatalf("MatMul allocates %v times per call (pool %v)", n, pp != nil)
		}
	}
}

func TestMatMulShortSlicesPanic(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("MatMul with a short w did not panic")
		}
	}()
	MatMul(nil, make([]float32, 4), make([]float32, 4), make([]float32, 3), 1, 4, 1)
}

// FuzzMatMul compares the kernels with the reference on arbitrary shapes and
// checks that the first row gives the same bits alone as in the batch.
func FuzzMatMul(f *testing.F) {
	f.Add(uint8(1), uint16(1), uint8(1), uint64(1))
	f.Add(uint8(5), uint16(17), uint8(7), uint64(2))
	f.Add(uint8(33), uint16(768), uint8(9), uint64(3))
	p := NewPool(2)
	defer p.Close()
	f.Fuzz(func(t *testing.T, rows uint8, in uint16, outDim uint8, seed uint64) {
		r, n, o := int(rows%48), int(in%1100), int(outDim%40)
		rng := rand.New(rand.NewPCG(seed, 9))
		x, w := randVec(rng, r*n), randVec(rng, o*n)
		got := make([]float32, r*o)
		MatMul(p, got, x, w, r, n, o)
		compareMatMul(t, "f32", got, x, w, r, n, o)
		if r == 0 {
			return
		}
		alone := make([]float32, o)
		MatMul(nil, alone, x, w, 1, n, o)
		for c := range alone {
			if math.Float32bits(alone[c]) != math.Float32bits(got[c]) {
				t.Fatalf("%dx%dx%d: row 0 col %d = %g batched, %g alone", r, n, o, c, got[c], alone[c])
			}
		}
	})
}

// TestBF16EqualsWidenedBitForBit: on every build and kernel level, bfloat16
// weights give exactly the bits their float32 widening gives, alone and in
// batches, so a model may keep bf16 weights narrow without changing output.
func TestBF16EqualsWidenedBitForBit(t *testing.T) {
	t.Logf("kernel level: %s", Level())
	rng := rand.New(rand.NewPCG(7, 8))
	for _, p := range pools(t) {
		for _, s := range shapes {
			x, wb := randVec(rng, s.rows*s.in), randBF16(rng, s.out*s.in)
			narrow := make([]float32, s.rows*s.out)
			wide := make([]float32, s.rows*s.out)
			MatMulBF16(p, narrow, x, wb, s.rows, s.in, s.out)
			MatMul(p, wide, x, widenBF16(wb), s.rows, s.in, s.out)
			for i := range narrow {
				if math.Float32bits(narrow[i]) != math.Float32bits(wide[i]) {
					t.Fatalf("%dx%dx%d: out[%d] = %g from bf16, %g from widened f32",
						s.rows, s.in, s.out, i, narrow[i], wide[i])
				}
			}
		}
	}
}
