//go:build goexperiment.simd && amd64

package kernel

import (
	"math"
	"simd/archsimd"
)

// AVX-512 vector operations. Tails go through the same 16-lane code with
// masked loads and stores, so every element sees the same arithmetic.

func store16(v f16, s []float32, i, n int) {
	if n-i >= 16 {
		v.Store(at(s, i))
		return
	}
	v.StoreSlicePart(s[i:n])
}

// part16 loads s[i:min(i+16,n)], zero-filled.
func part16(s []float32, i, n int) f16 {
	if n-i >= 16 {
		return load16(s, i)
	}
	return tail16(s, i, n)
}

func dot16(a, b []float32, n int) float32 { return f32x16One(a, b, n) }

func axpy16(y []float32, a float32, x []float32) {
	n := len(y)
	_ = x[:n]
	av := archsimd.BroadcastFloat32x16(a)
	for i := 0; i < n; i += 16 {
		store16(av.MulAdd(part16(x, i, n), part16(y, i, n)), y, i, n)
	}
	archsimd.ClearAVXUpperBits()
}

func scale16(x []float32, a float32) {
	n := len(x)
	av := archsimd.BroadcastFloat32x16(a)
	for i := 0; i < n; i += 16 {
		store16(part16(x, i, n).Mul(av), x, i, n)
	}
	archsimd.ClearAVXUpperBits()
}

func add16(out, a, b []float32) {
	n := len(out)
	_, _ = a[:n], b[:n]
	for i := 0; i < n; i += 16 {
		store16(part16(a, i, n).Add(part16(b, i, n)), out, i, n)
	}
	archsimd.ClearAVXUpperBits()
}

func mul16(out, a, b []float32) {
	n := len(out)
	_, _ = a[:n], b[:n]
	for i := 0; i < n; i += 16 {
		store16(part16(a, i, n).Mul(part16(b, i, n)), out, i, n)
	}
	archsimd.ClearAVXUpperBits()
}

// sumSq16 sums squares in float64 lanes, eight at a time.
func sumSq16(x []float32) float64 {
	n := len(x)
	var acc archsimd.Float64x8
	for i := 0; i < n; i += 16 {
		v := part16(x, i, n)
		lo, hi := v.GetLo().ConvertToFloat64(), v.GetHi().ConvertToFloat64()
		acc = lo.MulAdd(lo, acc)
		acc = hi.MulAdd(hi, acc)
	}
	var lanes [8]float64
	acc.Store(&lanes)
	archsimd.ClearAVXUpperBits()
	return ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]))
}

func siluMul16(out, gate, up []float32) {
	n := len(out)
	_, _ = gate[:n], up[:n]
	k := newExpConsts()
	zero := archsimd.BroadcastFloat32x16(0)
	for i := 0; i < n; i += 16 {
		g := part16(gate, i, n)
		e := exp16(zero.Sub(g), &k)
		store16(g.Div(k.one.Add(e)).Mul(part16(up, i, n)), out, i, n)
	}
	archsimd.ClearAVXUpperBits()
}

// max16 is the largest element of x (len(x) > 0). It does not propagate NaN
// like maxGo: Softmax of a NaN row is NaN either way.
func max16(x []float32) float32 {
	n := len(x)
	m := archsimd.BroadcastFloat32x16(x[0])
	for i := 0; i < n; i += 16 {
		v := part16(x, i, n)
		if n-i < 16 { // lanes past the end read as 0: use the running max there
			v = v.Merge(m, archsimd.Mask32x16FromBits(uint16(1)<<(n-i)-1))
		}
		m = m.Max(v)
	}
	var lanes [16]float32
	m.Store(&lanes)
	archsimd.ClearAVXUpperBits()
	r := lanes[0]
	for _, v := range lanes[1:] {
		r = max(r, v)
	}
	return r
}

func expSub16(x []float32, m float32) float32 {
	n := len(x)
	mv := archsimd.BroadcastFloat32x16(m)
	k := newExpConsts()
	var acc f16
	for i := 0; i < n; i += 16 {
		e := exp16(part16(x, i, n).Sub(mv), &k)
		if n-i < 16 {
			// Masked-off lanes are e^0 = 1: keep them out of the sum.
			e = e.Masked(archsimd.Mask32x16FromBits(uint16(1)<<(n-i) - 1))
		}
		acc = acc.Add(e)
		store16(e, x, i, n)
	}
	var r [4]float32
	reduce16(acc).Store(&r)
	archsimd.ClearAVXUpperBits()
	return r[0]
}

// Cephes expf: e^x = 2^n · e^r with n = round(x·log2 e) and r = x - n·ln 2
// (ln 2 split in two so r is nearly exact), e^r by a degree-7 polynomial on
// |r| ≤ ln2/2. 2^n is applied in two halves so results that land in the
// subnormal range are rounded once, like the true value.
const (
	expHi   = 100  // above: +Inf (any x > 88.73 overflows anyway)
	expLo   = -104 // below: 0 (e^-104 is under half the least subnormal)
	expLn2a = 0.693359375
	expLn2b = -2.12194440e-4
	expP0   = 1.9875691500e-4
	expP1   = 1.3981999507e-3
	expP2   = 8.3334519073e-3
	expP3   = 4.1665795894e-2
	expP4   = 1.6666665459e-1
	expP5   = 5.0000001201e-1
)

// expConsts holds exp16's constants as vectors, broadcast once per kernel
// call: broadcasting them inside the loop cost more than the polynomial.
type expConsts struct {
	hi, lo, log2e, ln2a, ln2b, p0, p1, p2, p3, p4, p5, one f16
	bias                                                   archsimd.Int32x16
}

func newExpConsts() expConsts {
	bc := archsimd.BroadcastFloat32x16
	return expConsts{
		hi: bc(expHi), lo: bc(expLo), log2e: bc(math.Log2E), ln2a: bc(-expLn2a), ln2b: bc(-expLn2b),
		p0: bc(expP0), p1: bc(expP1), p2: bc(expP2), p3: bc(expP3), p4: bc(expP4), p5: bc(expP5),
		one: bc(1), bias: archsimd.BroadcastInt32x16(127),
	}
}

func exp16(x f16, k *expConsts) f16 {
	c := x.Min(k.hi).Max(k.lo)
	fn := c.Mul(k.log2e).RoundToEvenScaled(0)
	r := fn.MulAdd(k.ln2a, c)
	r = fn.MulAdd(k.ln2b, r)
	p := k.p0.MulAdd(r, k.p1)
	p = p.MulAdd(r, k.p2)
	p = p.MulAdd(r, k.p3)
	p = p.MulAdd(r, k.p4)
	p = p.MulAdd(r, k.p5)
	y := p.MulAdd(r.Mul(r), r).Add(k.one)
	n := fn.ConvertToInt32()
	n1 := n.ShiftAllRight(1)
	n2 := n.Sub(n1)
	y = y.Mul(n1.Add(k.bias).ShiftAllLeft(23).AsFloat32x16())
	y = y.Mul(n2.Add(k.bias).ShiftAllLeft(23).AsFloat32x16())
	return x.Merge(y, x.IsNaN())
}
