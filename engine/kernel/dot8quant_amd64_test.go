//go:build goexperiment.simd && amd64

package kernel

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// FuzzQuantizeQ8_0AVX2: the AVX2 activation quantizer writes the bytes of
// the reference quantizeQ8_0Act on rows of any magnitude, with rounding
// ties, zeros, subnormals, infinities and NaNs. Rows run to 24 blocks, as
// q8Row takes eight a turn, and one seed in three has no special values,
// so that long rows without a NaN are common.
func FuzzQuantizeQ8_0AVX2(f *testing.F) {
	fuzzQuantizer(f, 34, quantizeQ8_0Act, quantizeQ8_0AVX2)
}

// FuzzQuantizeQ8_1AVX2 is FuzzQuantizeQ8_0AVX2 for the Q8_1 quantizer of
// Q4_1 and Q5_1 (q8Row1), whose blocks also carry d·Σq.
func FuzzQuantizeQ8_1AVX2(f *testing.F) {
	fuzzQuantizer(f, q8_1Bytes, quantizeQ8_1Act, quantizeQ8_1AVX2)
}

// fuzzQuantizer checks quantizer got against the reference want on rows
// of blocks of bb bytes.
func fuzzQuantizer(f *testing.F, bb int, want, got func([]byte, []float32)) {
	for i := range uint64(16) {
		f.Add(i, 1.0)
	}
	f.Add(uint64(99), 1e-40)
	f.Add(uint64(98), 1e38)
	f.Fuzz(func(t *testing.T, seed uint64, scale float64) {
		r := rand.New(rand.NewPCG(seed, 14))
		nb := 1 + r.IntN(24)
		x := randomX(r, 32*nb)
		special := 40
		if seed%3 == 0 {
			special = 1 << 30
		}
		for i := range x {
			x[i] *= float32(scale)
			switch r.IntN(special) {
			case 0:
				x[i] = float32(math.NaN())
			case 1:
				x[i] = float32(math.Inf(1 - 2*r.IntN(2)))
			case 2:
				x[i] = 0
			case 3: // a rounding tie where the block's scale is 1 (below)
				x[i] = float32(r.IntN(254)-127) + 0.5
			case 4:
				x[i] = float32(math.Copysign(0, -1))
			}
		}
		if seed%2 == 0 { // blocks of amax 127: d = 1, so x+0.5 values are exact ties
			for b := range nb {
				x[b*32] = 127
			}
		}
		w, g := make([]byte, nb*bb), make([]byte, nb*bb)
		want(w, x)
		got(g, x)
		if !slices.Equal(g, w) {
			for b := range nb {
				if !slices.Equal(g[b*bb:(b+1)*bb], w[b*bb:(b+1)*bb]) {
					t.Fatalf("block %d of %v: got %v, want %v", b, x[b*32:b*32+32], g[b*bb:(b+1)*bb], w[b*bb:(b+1)*bb])
				}
			}
		}
	})
}

// BenchmarkQuantizeQ8_0 compares the reference and AVX2 activation
// quantizers on one 768-value row.
func BenchmarkQuantizeQ8_0(b *testing.B) {
	x := randomX(rand.New(rand.NewPCG(3, 14)), 768)
	dst := make([]byte, 24*34)
	for _, q := range []struct {
		name string
		f    func([]byte, []float32)
	}{{"ref", quantizeQ8_0Act}, {"avx2", quantizeQ8_0AVX2}} {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				q.f(dst, x)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*768), "ns/value")
		})
	}
}
