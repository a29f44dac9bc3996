package train

import (
	"math"
	"math/rand/v2"

	"github.com/graft-ai/graft/engine/kernel"
	"github.com/graft-ai/graft/engine/model"
)

// span is one sequence of a packed micro-batch.
type span struct{ start, n int }

// packed is a micro-batch: sequences laid end to end. targets[i] is the token
// that position i must predict, or -1 where it is not in the loss.
type packed struct {
	tokens, pos, targets []int32
	seqs                 []span
}

func (pk *packed) add(tokens []int32, targets []int32) {
	pk.seqs = append(pk.seqs, span{start: len(pk.tokens), n: len(tokens)})
	for i := range tokens {
		pk.pos = append(pk.pos, int32(i))
	}
	pk.tokens = append(pk.tokens, tokens...)
	pk.targets = append(pk.targets, targets...)
}

func (pk *packed) reset() {
	pk.tokens, pk.pos, pk.targets, pk.seqs = pk.tokens[:0], pk.pos[:0], pk.targets[:0], pk.seqs[:0]
}

// lossTokens counts the positions in the loss.
func (pk *packed) lossTokens() int {
	n := 0
	for _, t := range pk.targets {
		if t >= 0 {
			n++
		}
	}
	return n
}

// loraActs is what one LoRA module keeps for its backward pass.
type loraActs[T float] struct {
	xd, mask []T // the dropped-out input and its factors; nil without dropout
	uT       []T // A·xdᵀ, [rank, tokens]
	us       []T // float32: scale·xd·Aᵀ, [tokens, rank]
}

// layerActs is what one layer keeps for its backward pass.
type layerActs[T float] struct {
	x, xn1, rs1, q, k, v, p, att, x2, xn2, rs2, gate, up, act []T
	sg                                                        []T // sigmoid(gate), reused by backward
	lora                                                      [model.NumModules]loraActs[T]
}

// net runs the training forward and backward passes of base+adapter.
type net[T float] struct {
	b        *base[T]
	ad       *adapter[T]
	pool     *kernel.Pool
	cos, sin []T
	dropRng  *rand.Rand

	acts             []layerActs[T]
	xf, xnf, rsf     []T
	sel, logits      []T
	lossIdx          []int
	dx, dxn, dsel    []T
	dq, dk, dv, datt []T
	dgate, dup, dact []T
	tmpA, tmpB, tmpC []T
	small1, small2   []T
	pOff             []int
	packTmp          packedB // float32: a right operand packed for one product
}

func newNet[T float](b *base[T], ad *adapter[T], pool *kernel.Pool, maxLen int, dropRng *rand.Rand) *net[T] {
	n := &net[T]{b: b, ad: ad, pool: pool, dropRng: dropRng, acts: make([]layerActs[T], b.cfg.Layers)}
	n.cos, n.sin = ropeTables[T](b.invFreq, maxLen)
	return n
}

func (n *net[T]) dims() (d, q, kv, f int) {
	c := &n.b.cfg
	return c.Dim, c.Heads * c.HeadDim, c.KVHeads * c.HeadDim, c.FFN
}

// alloc sizes the buffers for pk.
func (n *net[T]) alloc(pk *packed) {
	N := len(pk.tokens)
	d, q, kv, f := n.dims()
	c := &n.b.cfg
	n.pOff = n.pOff[:0]
	pTotal := 0
	for _, s := range pk.seqs {
		n.pOff = append(n.pOff, pTotal)
		pTotal += c.Heads * s.n * s.n
	}
	for l := range n.acts {
		a := &n.acts[l]
		a.x, a.xn1, a.rs1 = grow(a.x, N*d), grow(a.xn1, N*d), grow(a.rs1, N)
		a.q, a.k, a.v, a.att = grow(a.q, N*q), grow(a.k, N*kv), grow(a.v, N*kv), grow(a.att, N*q)
		a.p = grow(a.p, pTotal)
		a.x2, a.xn2, a.rs2 = grow(a.x2, N*d), grow(a.xn2, N*d), grow(a.rs2, N)
		a.gate, a.up, a.act, a.sg = grow(a.gate, N*f), grow(a.up, N*f), grow(a.act, N*f), grow(a.sg, N*f)
	}
	n.xf, n.xnf, n.rsf = grow(n.xf, N*d), grow(n.xnf, N*d), grow(n.rsf, N)
	n.dx, n.dxn = grow(n.dx, N*d), grow(n.dxn, N*d)
	n.dq, n.dk, n.dv, n.datt = grow(n.dq, N*q), grow(n.dk, N*kv), grow(n.dv, N*kv), grow(n.datt, N*q)
	n.dgate, n.dup, n.dact = grow(n.dgate, N*f), grow(n.dup, N*f), grow(n.dact, N*f)
	wide := max(d, q, f)
	n.tmpA, n.tmpB, n.tmpC = grow(n.tmpA, N*wide), grow(n.tmpB, N*wide), grow(n.tmpC, N*wide)
	r := max(n.ad.rank, 1)
	n.small1, n.small2 = grow(n.small1, N*r), grow(n.small2, N*r)
}

// forward runs the network over pk and returns the summed cross-entropy of
// the loss positions and their count. With train set, dropout is drawn and
// the probabilities are kept for backward.
func (n *net[T]) forward(pk *packed, train bool, stop func() bool) (loss float64, count int, stopped bool) {
	n.alloc(pk)
	n.ad.refreshTransposes() // A and B change only between passes
	c := &n.b.cfg
	d, _, _, _ := n.dims()
	x := n.acts[0].x
	for i, t := range pk.tokens {
		copy(x[i*d:(i+1)*d], n.b.embed[int(t)*d:(int(t)+1)*d])
	}
	for l := range n.acts {
		if stop != nil && stop() {
			return 0, 0, true
		}
		out := n.xf
		if l+1 < len(n.acts) {
			out = n.acts[l+1].x
		}
		n.layerForward(pk, l, out, train)
	}
	n.rmsNorm(n.xnf, n.rsf, n.xf, n.b.norm, len(pk.tokens), c.NormEps)
	loss, count = n.head(pk)
	return loss, count, false
}

func (n *net[T]) layerForward(pk *packed, l int, out []T, train bool) {
	c, a, bl := &n.b.cfg, &n.acts[l], &n.b.layers[l]
	N := len(pk.tokens)
	d, _, _, f := n.dims()
	n.rmsNorm(a.xn1, a.rs1, a.x, bl.attnNorm, N, c.NormEps)
	n.linear(a.q, a.xn1, N, l, model.ModQ, train)
	n.linear(a.k, a.xn1, N, l, model.ModK, train)
	n.linear(a.v, a.xn1, N, l, model.ModV, train)
	n.rope(a.q, pk, c.Heads, false)
	n.rope(a.k, pk, c.KVHeads, false)
	n.attentionGemm(pk, a)
	n.linear(a.x2, a.att, N, l, model.ModO, train)
	parallel(n.pool, N, func(lo, hi int) { addTo(a.x2[lo*d:hi*d], a.x[lo*d:hi*d]) })
	n.rmsNorm(a.xn2, a.rs2, a.x2, bl.ffnNorm, N, c.NormEps)
	n.linear(a.gate, a.xn2, N, l, model.ModGate, train)
	n.linear(a.up, a.xn2, N, l, model.ModUp, train)
	parallel(n.pool, N, func(lo, hi int) {
		siluParts(a.act[lo*f:hi*f], a.sg[lo*f:hi*f], a.gate[lo*f:hi*f], a.up[lo*f:hi*f])
	})
	n.linear(out, a.act, N, l, model.ModDown, train)
	parallel(n.pool, N, func(lo, hi int) { addTo(out[lo*d:hi*d], a.x2[lo*d:hi*d]) })
}

// rmsNorm sets out = x/rms(x)·w per row and keeps 1/rms in rs.
func (n *net[T]) rmsNorm(out, rs, x, w []T, rows int, eps float32) {
	d := len(w)
	parallel(n.pool, rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, or := x[r*d:(r+1)*d], out[r*d:(r+1)*d]
			var ss float64
			for _, v := range xr {
				ss += float64(v) * float64(v)
			}
			s := T(1 / math.Sqrt(ss/float64(d)+float64(eps)))
			rs[r] = s
			for i, v := range xr {
				or[i] = v * s * w[i]
			}
		}
	})
}

// rope rotates every head of x (rotate_half layout) by its position's angles;
// back applies the inverse rotation, which is the backward pass of rope.
func (n *net[T]) rope(x []T, pk *packed, heads int, back bool) {
	hd := n.b.cfg.HeadDim
	half := hd / 2
	parallel(n.pool, len(pk.tokens), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			p := int(pk.pos[t])
			cs, sn := n.cos[p*half:(p+1)*half], n.sin[p*half:(p+1)*half]
			for h := 0; h < heads; h++ {
				v := x[(t*heads+h)*hd : (t*heads+h+1)*hd]
				for i := 0; i < half; i++ {
					c, s := cs[i], sn[i]
					if back {
						s = -s
					}
					x0, x1 := v[i], v[i+half]
					v[i], v[i+half] = x0*c-x1*s, x1*c+x0*s
				}
			}
		}
	})
}
