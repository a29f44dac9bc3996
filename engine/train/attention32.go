package train

import (
	"math"
	"sync"
)

// attnPacks is one attention task's packed right operands.
type attnPacks struct{ kT, v, vT, k, dO, q packedB }

var attnPacksPool = sync.Pool{New: func() any { return new(attnPacks) }}

// attention32 is attentionGemm in float32: the heads' rows are read in
// place from q, k, v and written in place to att, with no gathers or
// transposes, and the products skip the causal mask's upper half.
func attention32(n *net[float32], pk *packed, a *layerActs[float32]) {
	c := &n.b.cfg
	hd, group := c.HeadDim, c.Heads/c.KVHeads
	qw, kw := c.Heads*hd, c.KVHeads*hd
	scale := float32(1 / math.Sqrt(float64(hd)))
	n.attnTasks(pk, func(s int, sp span, kvh int) {
		L := sp.n
		sc := attnPacksPool.Get().(*attnPacks)
		defer attnPacksPool.Put(sc)
		kOff := sp.start*kw + kvh*hd
		sc.kT.packT(a.k[kOff:], kw, hd, L)
		sc.v.pack(a.v[kOff:], kw, L, hd)
		for h := kvh * group; h < (kvh+1)*group; h++ {
			p := a.p[n.pOff[s]+h*L*L : n.pOff[s]+(h+1)*L*L]
			qOff := sp.start*qw + h*hd
			gemmShaped(nil, p, L, L, L, false, lowerOut, term{rowsOf(a.q[qOff:], qw), &sc.kT})
			n.causalSoftmax(p, L, scale)
			gemmShaped(nil, a.att[qOff:], qw, L, hd, false, lowerA, term{rowsOf(p, L), &sc.v})
		}
	})
}

// attentionBack32 is attentionGemmBack in float32; Pᵀ·dO and dSᵀ·Q read P
// and dS by columns in place. Every product skips what causality makes zero.
func attentionBack32(n *net[float32], pk *packed, a *layerActs[float32]) {
	c := &n.b.cfg
	hd, group := c.HeadDim, c.Heads/c.KVHeads
	qw, kw := c.Heads*hd, c.KVHeads*hd
	scale := float32(1 / math.Sqrt(float64(hd)))
	n.attnTasks(pk, func(s int, sp span, kvh int) {
		L := sp.n
		sc := attnPacksPool.Get().(*attnPacks)
		defer attnPacksPool.Put(sc)
		ds := getScratch[float32]()
		defer putScratch(ds)
		ds.s = grow(ds.s, L*L)
		kOff := sp.start*kw + kvh*hd
		sc.vT.packT(a.v[kOff:], kw, hd, L)
		sc.k.pack(a.k[kOff:], kw, L, hd)
		for i, h := 0, kvh*group; h < (kvh+1)*group; i, h = i+1, h+1 {
			p := a.p[n.pOff[s]+h*L*L : n.pOff[s]+(h+1)*L*L]
			qOff := sp.start*qw + h*hd
			sc.dO.pack(n.datt[qOff:], qw, L, hd)
			gemmShaped(nil, n.dv[kOff:], kw, L, hd, i > 0, upperA, term{colsOf(p, L), &sc.dO}) // dV += Pᵀ·dO
			dp := ds.s
			gemmShaped(nil, dp, L, L, L, false, lowerOut, term{rowsOf(n.datt[qOff:], qw), &sc.vT}) // dP = dO·Vᵀ
			for t := 0; t < L; t++ {
				lo := n.window(t)
				pr, dr := p[t*L+lo:t*L+t+1], dp[t*L:(t+1)*L]
				var rowDot float32
				for u, pv := range pr {
					rowDot += pv * dr[lo+u]
				}
				for u, pv := range pr {
					dr[lo+u] = pv * (dr[lo+u] - rowDot) * scale
				}
				clear(dr[:lo]) // dS is zero off the window, as P
				clear(dr[t+1:])
			}
			gemmShaped(nil, n.dq[qOff:], qw, L, hd, false, lowerA, term{rowsOf(dp, L), &sc.k}) // dQ = dS·K
			sc.q.pack(a.q[qOff:], qw, L, hd)
			gemmShaped(nil, n.dk[kOff:], kw, L, hd, i > 0, upperA, term{colsOf(dp, L), &sc.q}) // dK += dSᵀ·Q
		}
	})
}
