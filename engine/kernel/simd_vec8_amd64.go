//go:build goexperiment.simd && amd64

package kernel

import (
	"math"
	"simd/archsimd"
)

// AVX2 vector operations: the AVX-512 ones (simd_vec_amd64.go) at 8 lanes.
// Without them an AVX2 host ran Softmax and SiLU through math.Exp, element
// by element, which cost prefill about as much as the attention matmuls.
// Tails go through the same 8-lane code with partial loads and stores, so
// every element sees the same arithmetic wherever it sits in the slice.

func useVec8() {
	axpyImpl = axpy8
	scaleImpl = scale8
	addImpl = add8
	mulImpl = mul8
	sumSqImpl = sumSq8
	siluMulImpl = siluMul8
	expSubImpl = expSub8
	maxImpl = max8
	unpairImpl = unpair8
	useExpandAVX2()
}

// unpairIdx gathers a vector's even lanes into its low half and its odd
// lanes into its high half.
var unpairIdx = [8]uint32{0, 2, 4, 6, 1, 3, 5, 7}

// unpair8 is unpairGo 16 values at a time: VPERMPS splits each 8-lane load
// into its even and odd halves and VPERM2F128 joins two loads' halves. A
// scalar loop over each head cost 1.2% of a 32-stream decode step.
func unpair8(dst, src []float32) {
	half := len(dst) / 2
	if half%8 != 0 {
		unpairGo(dst, src)
		return
	}
	idx := archsimd.LoadUint32x8(&unpairIdx)
	for i := 0; i < half; i += 8 {
		a, b := load8(src, 2*i).Permute(idx), load8(src, 2*i+8).Permute(idx)
		a.Select128FromPair(0, 2, b).Store((*[8]float32)(dst[i : i+8]))
		a.Select128FromPair(1, 3, b).Store((*[8]float32)(dst[half+i : half+i+8]))
	}
}

func store8(v f8, s []float32, i, n int) {
	if n-i >= 8 {
		v.Store((*[8]float32)(at(s, i)[:8]))
		return
	}
	v.StoreSlicePart(s[i:n])
}

// part8 loads s[i:min(i+8,n)], zero-filled.
func part8(s []float32, i, n int) f8 {
	if n-i >= 8 {
		return load8(s, i)
	}
	return tail8(s, i, n)
}

// first8 is the mask of the first k lanes (k < 8), from a compare: the
// AVX-512 mask registers are not there.
func first8(k int) archsimd.Mask32x8 {
	iota := archsimd.LoadInt32x8(&[8]int32{0, 1, 2, 3, 4, 5, 6, 7})
	return archsimd.BroadcastInt32x8(int32(k)).Greater(iota)
}

func axpy8(y []float32, a float32, x []float32) {
	n := len(y)
	_ = x[:n]
	av := archsimd.BroadcastFloat32x8(a)
	for i := 0; i < n; i += 8 {
		store8(av.MulAdd(part8(x, i, n), part8(y, i, n)), y, i, n)
	}
	archsimd.ClearAVXUpperBits()
}

func scale8(x []float32, a float32) {
	n := len(x)
	av := archsimd.BroadcastFloat32x8(a)
	for i := 0; i < n; i += 8 {
		store8(part8(x, i, n).Mul(av), x, i, n)
	}
	archsimd.ClearAVXUpperBits()
}

func add8(out, a, b []float32) {
	n := len(out)
	_, _ = a[:n], b[:n]
	for i := 0; i < n; i += 8 {
		store8(part8(a, i, n).Add(part8(b, i, n)), out, i, n)
	}
	archsimd.ClearAVXUpperBits()
}

func mul8(out, a, b []float32) {
	n := len(out)
	_, _ = a[:n], b[:n]
	for i := 0; i < n; i += 8 {
		store8(part8(a, i, n).Mul(part8(b, i, n)), out, i, n)
	}
	archsimd.ClearAVXUpperBits()
}

// sumSq8 sums squares in float64 lanes, four at a time in two accumulators.
func sumSq8(x []float32) float64 {
	n := len(x)
	var lo, hi archsimd.Float64x4
	for i := 0; i < n; i += 8 {
		v := part8(x, i, n)
		l, h := v.GetLo().ConvertToFloat64(), v.GetHi().ConvertToFloat64()
		lo = l.MulAdd(l, lo)
		hi = h.MulAdd(h, hi)
	}
	var a, b [4]float64
	lo.Store(&a)
	hi.Store(&b)
	archsimd.ClearAVXUpperBits()
	return ((a[0] + b[0]) + (a[2] + b[2])) + ((a[1] + b[1]) + (a[3] + b[3]))
}

func siluMul8(out, gate, up []float32) {
	n := len(out)
	_, _ = gate[:n], up[:n]
	k := NewExp8()
	zero := archsimd.BroadcastFloat32x8(0)
	for i := 0; i < n; i += 8 {
		g := part8(gate, i, n)
		e := exp8(zero.Sub(g), &k)
		store8(g.Div(k.one.Add(e)).Mul(part8(up, i, n)), out, i, n)
	}
	archsimd.ClearAVXUpperBits()
}

// max8 is the largest element of x (len(x) > 0); like max16 it does not
// propagate NaN as maxGo does.
func max8(x []float32) float32 {
	n := len(x)
	m := archsimd.BroadcastFloat32x8(x[0])
	for i := 0; i < n; i += 8 {
		v := part8(x, i, n)
		if n-i < 8 { // lanes past the end read as 0: use the running max there
			v = v.Merge(m, first8(n-i))
		}
		m = m.Max(v)
	}
	var lanes [8]float32
	m.Store(&lanes)
	archsimd.ClearAVXUpperBits()
	r := lanes[0]
	for _, v := range lanes[1:] {
		r = max(r, v)
	}
	return r
}

func expSub8(x []float32, m float32) float32 {
	n := len(x)
	mv := archsimd.BroadcastFloat32x8(m)
	k := NewExp8()
	var acc f8
	for i := 0; i < n; i += 8 {
		e := exp8(part8(x, i, n).Sub(mv), &k)
		if n-i < 8 { // lanes past the end are e^-m: keep them out of the sum
			e = e.Masked(first8(n - i))
		}
		acc = acc.Add(e)
		store8(e, x, i, n)
	}
	var r [4]float32
	reduce8(acc).Store(&r)
	archsimd.ClearAVXUpperBits()
	return r[0]
}

// Exp8 holds exp's constants at 8 lanes; engine/train's fused SiLU and
// softmax use it too, so training and inference exponentiate alike.
type Exp8 struct {
	hi, lo, log2e, ln2a, ln2b, p0, p1, p2, p3, p4, p5, one f8
	bias                                                   archsimd.Int32x8
}

// NewExp8 broadcasts the constants once per loop.
func NewExp8() Exp8 {
	bc := archsimd.BroadcastFloat32x8
	return Exp8{
		hi: bc(expHi), lo: bc(expLo), log2e: bc(math.Log2E), ln2a: bc(-expLn2a), ln2b: bc(-expLn2b),
		p0: bc(expP0), p1: bc(expP1), p2: bc(expP2), p3: bc(expP3), p4: bc(expP4), p5: bc(expP5),
		one: bc(1), bias: archsimd.BroadcastInt32x8(127),
	}
}

// Exp is e^x in each lane, as exp8.
func (k *Exp8) Exp(x archsimd.Float32x8) archsimd.Float32x8 { return exp8(x, k) }

// exp8 is exp16 at 8 lanes (VROUNDPS for the nearest n: no AVX-512 here).
func exp8(x f8, k *Exp8) f8 {
	c := x.Min(k.hi).Max(k.lo)
	fn := c.Mul(k.log2e).RoundToEven()
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
	y = y.Mul(n1.Add(k.bias).ShiftAllLeft(23).AsFloat32x8())
	y = y.Mul(n2.Add(k.bias).ShiftAllLeft(23).AsFloat32x8())
	return x.Merge(y, x.IsNaN())
}
