//go:build goexperiment.simd && amd64

package train

import (
	"math"
	"simd/archsimd"

	"github.com/graft-ai/graft/engine/kernel"
)

// siluParts8 sets sg = sigmoid(gate) and act = gate·sg·up.
func siluParts8(act, sg, gate, up []float32) {
	n := len(act)
	_, _, _ = sg[:n], gate[:n], up[:n]
	k := kernel.NewExp8()
	one := archsimd.BroadcastFloat32x8(1)
	zero := f8{}
	i := 0
	for ; i+8 <= n; i += 8 {
		g := ld8(gate, i)
		s := one.Div(one.Add(k.Exp(zero.Sub(g))))
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
	k := kernel.NewExp8()
	mv := archsimd.BroadcastFloat32x8(m)
	var acc f8
	i = 0
	for ; i+8 <= n; i += 8 {
		e := k.Exp(ld8(x, i).Sub(mv))
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
