package train

import (
	"math"
	"sync"
)

// attnScratch is one task's contiguous copies and products, [n, hd] and [n, n].
type attnScratch[T float] struct {
	q, k, v, kT, vT, o, dO, tmp []T
	s, sT                       []T
}

var attnScratchPool sync.Map // element type → *sync.Pool

func getScratch[T float]() *attnScratch[T] {
	var zero T
	p, _ := attnScratchPool.LoadOrStore(any(zero), &sync.Pool{New: func() any { return new(attnScratch[T]) }})
	return p.(*sync.Pool).Get().(*attnScratch[T])
}

func putScratch[T float](sc *attnScratch[T]) {
	var zero T
	p, _ := attnScratchPool.Load(any(zero))
	p.(*sync.Pool).Put(sc)
}

func (sc *attnScratch[T]) size(n, hd int) {
	for _, b := range []*[]T{&sc.q, &sc.k, &sc.v, &sc.kT, &sc.vT, &sc.o, &sc.dO, &sc.tmp} {
		*b = grow(*b, n*hd)
	}
	sc.s, sc.sT = grow(sc.s, n*n), grow(sc.sT, n*n)
}

// gather copies head h's rows of src (width floats per token) into dst [n, hd].
func gather[T float](dst, src []T, start, n, width, off, hd int) {
	for t := 0; t < n; t++ {
		copy(dst[t*hd:(t+1)*hd], src[(start+t)*width+off:(start+t)*width+off+hd])
	}
}

// attentionGemm is causal softmax attention with grouped key/value heads, the
// products as matrix multiplications: per (sequence, head) S = Q·Kᵀ, causal
// softmax, O = P·V. The probabilities are kept in a.p, [seq][head][t][u].
func (n *net[T]) attentionGemm(pk *packed, a *layerActs[T]) {
	if nf, ok := any(n).(*net[float32]); ok {
		attention32(nf, pk, any(a).(*layerActs[float32]))
		return
	}
	c := &n.b.cfg
	hd, group := c.HeadDim, c.Heads/c.KVHeads
	qw, kw := c.Heads*hd, c.KVHeads*hd
	scale := T(1 / math.Sqrt(float64(hd)))
	n.attnTasks(pk, func(s int, sp span, kvh int) {
		L := sp.n
		sc := getScratch[T]()
		defer putScratch(sc)
		sc.size(L, hd)
		gather(sc.k, a.k, sp.start, L, kw, kvh*hd, hd)
		gather(sc.v, a.v, sp.start, L, kw, kvh*hd, hd)
		transpose(sc.kT, sc.k, L, hd)
		for h := kvh * group; h < (kvh+1)*group; h++ {
			p := a.p[n.pOff[s]+h*L*L : n.pOff[s]+(h+1)*L*L]
			gather(sc.q, a.q, sp.start, L, qw, h*hd, hd)
			matmulB(nil, p, sc.q, sc.kT, L, hd, L)
			n.causalSoftmax(p, L, scale)
			matmulB(nil, sc.o, p, sc.v, L, L, hd)
			for t := 0; t < L; t++ {
				copy(a.att[(sp.start+t)*qw+h*hd:(sp.start+t)*qw+(h+1)*hd], sc.o[t*hd:(t+1)*hd])
			}
		}
	})
}

// causalSoftmax turns each row t of the scaled scores p [L, L] into the
// probabilities over the keys t may see (its window up to t), zero elsewhere.
func (n *net[T]) causalSoftmax(p []T, L int, scale T) {
	for t := 0; t < L; t++ {
		row := p[t*L : (t+1)*L]
		lo := n.window(t)
		clear(row[:lo])
		clear(row[t+1:])
		for u := lo; u <= t; u++ {
			row[u] *= scale
		}
		softmaxRow(row[lo : t+1])
	}
}

// attentionGemmBack sets n.dq, n.dk, n.dv from n.datt: dP = dO·Vᵀ,
// dV = Pᵀ·dO, dS = P⊙(dP - rowsum(P⊙dP))·scale, dQ = dS·K, dK = dSᵀ·Q.
func (n *net[T]) attentionGemmBack(pk *packed, a *layerActs[T]) {
	if nf, ok := any(n).(*net[float32]); ok {
		attentionBack32(nf, pk, any(a).(*layerActs[float32]))
		return
	}
	c := &n.b.cfg
	hd, group := c.HeadDim, c.Heads/c.KVHeads
	qw, kw := c.Heads*hd, c.KVHeads*hd
	scale := T(1 / math.Sqrt(float64(hd)))
	n.attnTasks(pk, func(s int, sp span, kvh int) {
		L := sp.n
		sc := getScratch[T]()
		defer putScratch(sc)
		sc.size(L, hd)
		gather(sc.k, a.k, sp.start, L, kw, kvh*hd, hd)
		gather(sc.v, a.v, sp.start, L, kw, kvh*hd, hd)
		transpose(sc.vT, sc.v, L, hd)
		dk, dv := make([]T, L*hd), make([]T, L*hd)
		for h := kvh * group; h < (kvh+1)*group; h++ {
			p := a.p[n.pOff[s]+h*L*L : n.pOff[s]+(h+1)*L*L]
			gather(sc.dO, n.datt, sp.start, L, qw, h*hd, hd)
			gather(sc.q, a.q, sp.start, L, qw, h*hd, hd)
			transpose(sc.sT, p, L, L)
			matmulB(nil, sc.tmp, sc.sT, sc.dO, L, L, hd) // Pᵀ·dO
			addTo(dv, sc.tmp)
			ds := sc.s
			matmulB(nil, ds, sc.dO, sc.vT, L, hd, L) // dP
			for t := 0; t < L; t++ {
				pr, dr := p[t*L:(t+1)*L], ds[t*L:(t+1)*L]
				var rowDot T
				for u, pv := range pr {
					rowDot += pv * dr[u]
				}
				for u, pv := range pr {
					dr[u] = pv * (dr[u] - rowDot) * scale
				}
			}
			matmulB(nil, sc.tmp, ds, sc.k, L, L, hd) // dQ
			for t := 0; t < L; t++ {
				copy(n.dq[(sp.start+t)*qw+h*hd:(sp.start+t)*qw+(h+1)*hd], sc.tmp[t*hd:(t+1)*hd])
			}
			transpose(sc.sT, ds, L, L)
			matmulB(nil, sc.tmp, sc.sT, sc.q, L, L, hd) // dSᵀ·Q
			addTo(dk, sc.tmp)
		}
		for t := 0; t < L; t++ {
			copy(n.dk[(sp.start+t)*kw+kvh*hd:(sp.start+t)*kw+(kvh+1)*hd], dk[t*hd:(t+1)*hd])
			copy(n.dv[(sp.start+t)*kw+kvh*hd:(sp.start+t)*kw+(kvh+1)*hd], dv[t*hd:(t+1)*hd])
		}
	})
}
