package train

import "math"

// attnTask is one (sequence, key/value head) pair: the unit of parallel work,
// so that the backward pass's writes to dk and dv never overlap.
func (n *net[T]) attnTasks(pk *packed, fn func(s int, sp span, kvh int)) {
	kvHeads := n.b.cfg.KVHeads
	parallel(n.pool, len(pk.seqs)*kvHeads, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			s := i / kvHeads
			fn(s, pk.seqs[s], i%kvHeads)
		}
	})
}

// window returns the first key position token t of a sequence attends to.
func (n *net[T]) window(t int) int {
	if w := n.b.cfg.SlidingWindow; w > 0 && t-w+1 > 0 {
		return t - w + 1
	}
	return 0
}

// attention is causal softmax attention with grouped key/value heads; the
// probabilities are kept in a.p, [seq][head][t][u].
func (n *net[T]) attention(pk *packed, a *layerActs[T]) {
	c := &n.b.cfg
	hd, group := c.HeadDim, c.Heads/c.KVHeads
	qw, kw := c.Heads*hd, c.KVHeads*hd
	scale := T(1 / math.Sqrt(float64(hd)))
	n.attnTasks(pk, func(s int, sp span, kvh int) {
		for h := kvh * group; h < (kvh+1)*group; h++ {
			p := a.p[n.pOff[s]+h*sp.n*sp.n : n.pOff[s]+(h+1)*sp.n*sp.n]
			for t := 0; t < sp.n; t++ {
				qt := a.q[(sp.start+t)*qw+h*hd : (sp.start+t)*qw+(h+1)*hd]
				row := p[t*sp.n : (t+1)*sp.n]
				clear(row)
				lo := n.window(t)
				for u := lo; u <= t; u++ {
					row[u] = n.dot(qt, a.k[(sp.start+u)*kw+kvh*hd:(sp.start+u)*kw+(kvh+1)*hd]) * scale
				}
				softmaxRow(row[lo : t+1])
				o := a.att[(sp.start+t)*qw+h*hd : (sp.start+t)*qw+(h+1)*hd]
				clear(o)
				for u := lo; u <= t; u++ {
					n.axpy(o, row[u], a.v[(sp.start+u)*kw+kvh*hd:(sp.start+u)*kw+(kvh+1)*hd])
				}
			}
		}
	})
}

// attentionBack sets n.dq, n.dk, n.dv from n.datt.
func (n *net[T]) attentionBack(pk *packed, a *layerActs[T]) {
	c := &n.b.cfg
	hd, group := c.HeadDim, c.Heads/c.KVHeads
	qw, kw := c.Heads*hd, c.KVHeads*hd
	scale := T(1 / math.Sqrt(float64(hd)))
	N := len(pk.tokens)
	clear(n.dq[:N*qw])
	clear(n.dk[:N*kw])
	clear(n.dv[:N*kw])
	n.attnTasks(pk, func(s int, sp span, kvh int) {
		dp := make([]T, sp.n)
		for h := kvh * group; h < (kvh+1)*group; h++ {
			p := a.p[n.pOff[s]+h*sp.n*sp.n : n.pOff[s]+(h+1)*sp.n*sp.n]
			for t := 0; t < sp.n; t++ {
				row := p[t*sp.n : (t+1)*sp.n]
				qo := (sp.start+t)*qw + h*hd
				g, qt, dqt := n.datt[qo:qo+hd], a.q[qo:qo+hd], n.dq[qo:qo+hd]
				lo := n.window(t)
				var rowDot T
				for u := lo; u <= t; u++ {
					ko := (sp.start+u)*kw + kvh*hd
					dp[u] = n.dot(g, a.v[ko:ko+hd])
					rowDot += row[u] * dp[u]
					n.axpy(n.dv[ko:ko+hd], row[u], g)
				}
				for u := lo; u <= t; u++ {
					ko := (sp.start+u)*kw + kvh*hd
					ds := row[u] * (dp[u] - rowDot) * scale
					n.axpy(dqt, ds, a.k[ko:ko+hd])
					n.axpy(n.dk[ko:ko+hd], ds, qt)
				}
			}
		}
	})
}
