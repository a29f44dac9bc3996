//go:build goexperiment.simd && amd64

package train

import (
	"math"
	"simd/archsimd"
)

// Cephes expf, as engine/kernel's AVX-512 exp16, eight lanes: e^x = 2^n·e^r
// with n = round(x·log2 e), r = x - n·ln 2, e^r by a degree-7 polynomial;
// 2^n applied in two halves so that subnormal results round once.
type exp8Consts struct {
	hi, lo, log2e, ln2a, ln2b, p0, p1, p2, p3, p4, p5, one f8
	bias                                                   archsimd.Int32x8
}

func newExp8() exp8Consts {
	bc := archsimd.BroadcastFloat32x8
	return exp8Consts{
		hi: bc(88.7), lo: bc(-103), log2e: bc(math.Log2E), ln2a: bc(-0.693359375), ln2b: bc(2.12194440e-4),
		p0: bc(1.9875691500e-4), p1: bc(1.3981999507e-3), p2: bc(8.3334519073e-3),
		p3: bc(4.1665795894e-2), p4: bc(1.6666665459e-1), p5: bc(5.0000001201e-1),
		one: bc(1), bias: archsimd.BroadcastInt32x8(127),
	}
}

func (k *exp8Consts) exp(x f8) f8 {
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
	return y.Mul(n2.Add(k.bias).ShiftAllLeft(23).AsFloat32x8())
}

// siluParts8 sets sg = sigmoid(gate) and act = gate·sg·up.
func siluParts8(act, sg, gate, up []float32) {
	n := len(act)
	_, _, _ = sg[:n], gate[:n], up[:n]
	k := newExp8()
	zero := f8{}
	i := 0
	for ; i+8 <= n; i += 8 {
		g := ld8(gate, i)
		s := k.one.Div(k.one.Add(k.exp(zero.Sub(g))))
		st8(s, sg, i)
		st8(g.Mul(s).Mul(ld8(up, i)), act, i)
	}
	archsimd.ClearAVXUpperBits()
	siluPartsGo(act[i:], sg[i:], gate[i:], up[i:])
}

// siluBack8 is siluBackGo, eight lanes at a time.
func siluBack8(dgate, dup, dact, gate, sg, up []float32) {
	n := len(dact)
	_, _, _, _, _ = dgate[:n], dup[:n], gate[:n], sg[:n], up[:n]
	one := archsimd.BroadcastFloat32x8(1)
	i := 0
	for ; i+8 <= n; i += 8 {
		g, s := ld8(gate, i), ld8(sg, i)
		ds := ld8(dact, i).Mul(s)
		st8(ds.Mul(g), dup, i)
		st8(ds.Mul(ld8(up, i)).Mul(g.MulAdd(one.Sub(s), one)), dgate, i)
	}
	archsimd.ClearAVXUpperBits()
	siluBackGo(dgate[i:n], dup[i:n], dact[i:n], gate[i:n], sg[i:n], up[i:n])
}

// softmax8 replaces x by its softmax and returns log Σ exp(x), every pass
// eight lanes wide.
func softmax8(x []float32) float64 {
	n := len(x)
	if n == 0 {
		return math.Inf(-1)
	}
	var lanes [8]float32
	m := x[0]
	i := 0
	if n >= 8 {
		mv := ld8(x, 0)
		for i = 8; i+8 <= n; i += 8 {
			mv = mv.Max(ld8(x, i))
		}
		mv.Store(&lanes)
		for _, v := range lanes {
			m = max(m, v)
		}
	}
	for ; i < n; i++ {
		m = max(m, x[i])
	}
	k := newExp8()
	mv := archsimd.BroadcastFloat32x8(m)
	var acc f8
	i = 0
	for ; i+8 <= n; i += 8 {
		e := k.exp(ld8(x, i).Sub(mv))
		acc = acc.Add(e)
		st8(e, x, i)
	}
	acc.Store(&lanes)
	var sum float32
	for _, v := range lanes {
		sum += v
	}
	for ; i < n; i++ {
		x[i] = float32(math.Exp(float64(x[i] - m)))
		sum += x[i]
	}
	inv := archsimd.BroadcastFloat32x8(1 / sum)
	i = 0
	for ; i+8 <= n; i += 8 {
		st8(ld8(x, i).Mul(inv), x, i)
	}
	archsimd.ClearAVXUpperBits()
	for ; i < n; i++ {
		x[i] *= 1 / sum
	}
	return float64(m) + math.Log(float64(sum))
}
