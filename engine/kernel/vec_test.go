package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

var vecLens = []int{0, 1, 3, 15, 16, 17, 31, 100, 768, 2048, 32000}

func TestLevel(t *testing.T) { t.Logf("kernel level: %s", Level()) }

func near(got float32, want, tol float64) bool {
	return math.Abs(float64(got)-want) <= tol*math.Max(1, math.Abs(want))
}

func TestElementwiseOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range vecLens {
		a, b := randVec(rng, n), randVec(rng, n)
		out := make([]float32, n)
		Add(out, a, b)
		for i := range out {
			if out[i] != a[i]+b[i] {
				t.Fatalf("Add n=%d [%d] = %g, want %g", n, i, out[i], a[i]+b[i])
			}
		}
		Mul(out, a, b)
		for i := range out {
			if out[i] != a[i]*b[i] {
				t.Fatalf("Mul n=%d [%d] = %g, want %g", n, i, out[i], a[i]*b[i])
			}
		}
		y := append([]float32(nil), a...)
		Axpy(y, 0.75, b)
		for i := range y {
			if !near(y[i], float64(a[i])+0.75*float64(b[i]), 1e-6) {
				t.Fatalf("Axpy n=%d [%d] = %g", n, i, y[i])
			}
		}
		Scale(y, -3)
		for i := range y {
			if !near(y[i], -3*(float64(a[i])+0.75*float64(b[i])), 1e-6) {
				t.Fatalf("Scale n=%d [%d] = %g", n, i, y[i])
			}
		}
		var dot, abs float64
		for i := range a {
			dot += float64(a[i]) * float64(b[i])
			abs += math.Abs(float64(a[i]) * float64(b[i]))
		}
		if d := Dot(a, b); math.Abs(float64(d)-dot) > matMulTol(float32(abs), n) {
			t.Fatalf("Dot n=%d = %g, want %g", n, d, dot)
		}
	}
}

func TestRMSNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, n := range vecLens[1:] {
		x, w := randVec(rng, n), randVec(rng, n)
		got, want := make([]float32, n), make([]float32, n)
		RMSNorm(got, x, w, 1e-5)
		refRMSNorm(want, x, w, 1e-5)
		for i := range got {
			// Two float32 products after an exact-ish scale: 2 roundings.
			if !near(got[i], float64(want[i]), 3e-7) {
				t.Fatalf("RMSNorm n=%d [%d] = %g, want %g", n, i, got[i], want[i])
			}
		}
	}
}

func TestSiLUMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, n := range vecLens {
		g, u := randVec(rng, n), randVec(rng, n)
		for i := range g {
			g[i] *= 8 // reach the tails of the sigmoid
		}
		out := make([]float32, n)
		SiLUMul(out, g, u)
		for i := range out {
			want := refSiLU(g[i]) * float64(u[i])
			if !near(out[i], want, 1e-6) {
				t.Fatalf("SiLUMul n=%d [%d] g=%g u=%g = %g, want %g", n, i, g[i], u[i], out[i], want)
			}
		}
	}
}

func TestSoftmax(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, n := range vecLens[1:] {
		x := randVec(rng, n)
		for i := range x {
			x[i] *= 10
		}
		want := append([]float32(nil), x...)
		refSoftmax(want)
		Softmax(x)
		var sum float64
		for i := range x {
			sum += float64(x[i])
			// exp within 2 ulp, a float32 sum and a scale: ~1e-6 relative.
			if !near(x[i], float64(want[i]), 2e-6) && math.Abs(float64(x[i]-want[i])) > 1e-12 {
				t.Fatalf("Softmax n=%d [%d] = %g, want %g", n, i, x[i], want[i])
			}
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Fatalf("Softmax n=%d sums to %g", n, sum)
		}
	}
}

func TestMaxIndex(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range []struct {
		x    []float32
		want int
	}{
		{nil, -1}, {[]float32{1}, 0}, {[]float32{1, 3, 3, 2}, 1}, {[]float32{-5, -2, -2}, 1},
		{[]float32{nan, 1, 2}, 2}, {[]float32{1, nan, 0}, 0}, {[]float32{nan, nan}, 0},
	} {
		if got := MaxIndex(c.x); got != c.want {
			t.Errorf("MaxIndex(%v) = %d, want %d", c.x, got, c.want)
		}
	}
}

// ulps is the distance between two float32s counted in representable values.
func ulps(a, b float32) int64 {
	key := func(f float32) int64 {
		u := int64(math.Float32bits(f))
		if u&(1<<31) != 0 {
			return -(u &^ (1 << 31))
		}
		return u
	}
	d := key(a) - key(b)
	if d < 0 {
		return -d
	}
	return d
}

// TestExpAccuracy sweeps the whole useful float32 range (every 1999th
// float32, about a million values) and checks the kernels' exp within 2 ulp of the
// correctly rounded value, subnormal results included.
func TestExpAccuracy(t *testing.T) {
	stride := uint32(1999)
	if testing.Short() {
		stride = 99991
	}
	var worst int64
	var worstX float32
	buf := make([]float32, 0, 4096)
	check := func() {
		got := append([]float32(nil), buf...)
		expSubImpl(got, 0)
		for i, x := range buf {
			want := float32(math.Exp(float64(x)))
			if u := ulps(got[i], want); u > worst {
				worst, worstX = u, x
			}
		}
		buf = buf[:0]
	}
	for _, sign := range []uint32{0, 1 << 31} {
		for b := uint32(0); b < 0x42d00000; b += stride { // |x| < 104
			buf = append(buf, math.Float32frombits(sign|b))
			if len(buf) == cap(buf) {
				check()
			}
		}
	}
	check()
	for _, x := range []float32{88.72, 88.73, 89, 1000, float32(math.Inf(1)), -103.9, -104, -1000, float32(math.Inf(-1))} {
		if u := ulps(Exp(x), float32(math.Exp(float64(x)))); u > worst {
			worst, worstX = u, x
		}
	}
	t.Logf("exp: worst %d ulp at x=%g (level %s)", worst, worstX, Level())
	if worst > 2 {
		t.Fatalf("exp is %d ulp off at x=%g", worst, worstX)
	}
	if e := Exp(float32(math.NaN())); e == e {
		t.Fatalf("Exp(NaN) = %g", e)
	}
}

// TestSoftmaxMaxInTail: the vector max must see the last, partial chunk.
func TestSoftmaxMaxInTail(t *testing.T) {
	for _, n := range []int{1, 5, 16, 17, 33, 47} {
		x := make([]float32, n)
		for i := range x {
			x[i] = -100 + float32(i%7)
		}
		x[n-1] = 50 // far above the rest: its probability is 1 to float32 precision
		Softmax(x)
		if x[n-1] != 1 {
			t.Errorf("n=%d: softmax of the tail maximum = %v, want 1", n, x[n-1])
		}
		if got := maxImpl([]float32{-3, -2, -1}); got != -1 {
			t.Errorf("max of negatives = %v", got)
		}
	}
}

// TestSumWords: every word counts once, whatever the length, in the
// build's version and the portable one (the tail past a multiple of 8 is
// documented as not read).
func TestSumWords(t *testing.T) {
	for _, n := range []int{0, 8, 40, 64, 72, 264, 8 * 1027, 8*1027 + 5} {
		x := make([]uint64, n)
		var want uint64
		for i := range x {
			x[i] = uint64(i*i) * 0x9e3779b97f4a7c15 // carries out of every lane
			if i < n/8*8 {
				want += x[i]
			}
		}
		if got := SumWords(x); got != want {
			t.Fatalf("SumWords of %d words = %d, want %d", n, got, want)
		}
		if got := sumWordsGo(x); got != want {
			t.Fatalf("sumWordsGo of %d words = %d, want %d", n, got, want)
		}
	}
}

// TestUnpair: every length's pairs land in their halves, through the
// vector path (halves of whole vectors) and the scalar one (the rest).
func TestUnpair(t *testing.T) {
	for _, n := range []int{2, 6, 16, 32, 48, 64, 128, 256, 512} {
		src, dst := make([]float32, n), make([]float32, n)
		for i := range src {
			src[i] = float32(i) + 0.5
		}
		Unpair(dst, src)
		for i := range n / 2 {
			if dst[i] != src[2*i] || dst[n/2+i] != src[2*i+1] {
				t.Fatalf("length %d, pair %d: got %v and %v, want %v and %v", n, i, dst[i], dst[n/2+i], src[2*i], src[2*i+1])
			}
		}
	}
}

// BenchmarkUnpair times the kernel in use against the scalar loop on one
// 64-value head, as decode reorders every q and k head of a GGUF model.
func BenchmarkUnpair(b *testing.B) {
	src, dst := make([]float32, 64), make([]float32, 64)
	for _, k := range []struct {
		name string
		fn   func(dst, src []float32)
	}{{"scalar", unpairGo}, {"inuse", unpairImpl}} {
		b.Run(k.name, func(b *testing.B) {
			for b.Loop() {
				k.fn(dst, src)
			}
		})
	}
}
