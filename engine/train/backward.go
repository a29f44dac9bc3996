package train

import "github.com/graft-ai/graft/engine/model"

// head computes the logits of the loss positions, turns them into
// probabilities in place and returns the summed cross-entropy.
func (n *net[T]) head(pk *packed) (float64, int) {
	c := &n.b.cfg
	d, V := c.Dim, c.Vocab
	n.lossIdx = n.lossIdx[:0]
	for i, t := range pk.targets {
		if t >= 0 {
			n.lossIdx = append(n.lossIdx, i)
		}
	}
	M := len(n.lossIdx)
	if M == 0 {
		return 0, 0
	}
	n.sel, n.logits = grow(n.sel, M*d), grow(n.logits, M*V)
	for r, i := range n.lossIdx {
		copy(n.sel[r*d:(r+1)*d], n.xnf[i*d:(i+1)*d])
	}
	if nf, ok := any(n).(*net[float32]); ok {
		gemmSum(nf.pool, nf.logits, V, M, V, false, term{rowsOf(nf.sel, d), &nf.b.outFwd})
	} else {
		matmulB(n.pool, n.logits, n.sel, n.b.outT, M, d, V)
	}
	losses := make([]float64, M)
	parallel(n.pool, M, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := n.logits[r*V : (r+1)*V]
			target := float64(row[pk.targets[n.lossIdx[r]]])
			losses[r] = softmaxRow(row) - target
		}
	})
	var sum float64
	for _, l := range losses {
		sum += l
	}
	return sum, M
}

// backward accumulates into the adapter's gradients the gradient of
// weight·(summed loss of the last forward pass).
func (n *net[T]) backward(pk *packed, weight T, stop func() bool) bool {
	c := &n.b.cfg
	d, V := c.Dim, c.Vocab
	N, M := len(pk.tokens), len(n.lossIdx)
	if M == 0 {
		return false
	}
	parallel(n.pool, M, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := n.logits[r*V : (r+1)*V]
			for i := range row {
				row[i] *= weight
			}
			row[pk.targets[n.lossIdx[r]]] -= weight
		}
	})
	n.dsel = grow(n.dsel, M*d)
	if nf, ok := any(n).(*net[float32]); ok {
		gemmSum(nf.pool, nf.dsel, d, M, d, false, term{rowsOf(nf.logits, V), &nf.b.outBwd})
	} else {
		matmulB(n.pool, n.dsel, n.logits, n.b.out, M, V, d)
	}
	clear(n.dxn[:N*d])
	for r, i := range n.lossIdx {
		copy(n.dxn[i*d:(i+1)*d], n.dsel[r*d:(r+1)*d])
	}
	n.rmsNormBack(n.dx, n.dxn, n.xf, n.rsf, n.b.norm, N, false)
	for l := len(n.acts) - 1; l >= 0; l-- {
		if stop != nil && stop() {
			return true
		}
		n.layerBack(pk, l)
	}
	return false
}

// layerBack turns n.dx from the gradient of layer l's output into that of its input.
func (n *net[T]) layerBack(pk *packed, l int) {
	c, a, bl := &n.b.cfg, &n.acts[l], &n.b.layers[l]
	N := len(pk.tokens)
	_, _, _, f := n.dims()
	n.linearBack(n.dact, n.dx, a.act, N, l, model.ModDown, false)
	parallel(n.pool, N, func(lo, hi int) {
		lo, hi = lo*f, hi*f
		siluBack(n.dgate[lo:hi], n.dup[lo:hi], n.dact[lo:hi], a.gate[lo:hi], a.sg[lo:hi], a.up[lo:hi])
	})
	n.linearBack(n.dxn, n.dgate, a.xn2, N, l, model.ModGate, false)
	n.linearBack(n.dxn, n.dup, a.xn2, N, l, model.ModUp, true)
	n.rmsNormBack(n.dx, n.dxn, a.x2, a.rs2, bl.ffnNorm, N, true)

	n.linearBack(n.datt, n.dx, a.att, N, l, model.ModO, false)
	n.attentionGemmBack(pk, a)
	n.rope(n.dq, pk, c.Heads, true)
	n.rope(n.dk, pk, c.KVHeads, true)
	dxn := n.dxn
	if l == 0 {
		dxn = nil // the embedding is frozen: only the LoRA gradients are wanted
	}
	n.linearBack(dxn, n.dq, a.xn1, N, l, model.ModQ, false)
	n.linearBack(dxn, n.dk, a.xn1, N, l, model.ModK, true)
	n.linearBack(dxn, n.dv, a.xn1, N, l, model.ModV, true)
	if l > 0 {
		n.rmsNormBack(n.dx, n.dxn, a.x, a.rs1, bl.attnNorm, N, true)
	}
}

// rmsNormBack sets (or, with acc, adds to) dx the gradient of x through
// y = x·s·w, s = 1/rms(x), given dy.
func (n *net[T]) rmsNormBack(dx, dy, x, rs, w []T, rows int, acc bool) {
	d := len(w)
	parallel(n.pool, rows, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, dyr, dxr := x[r*d:(r+1)*d], dy[r*d:(r+1)*d], dx[r*d:(r+1)*d]
			s := rs[r]
			var dot T
			for i, v := range xr {
				dot += dyr[i] * w[i] * v
			}
			k := s * s * s * dot / T(d)
			for i, v := range xr {
				g := s*dyr[i]*w[i] - k*v
				if acc {
					dxr[i] += g
				} else {
					dxr[i] = g
				}
			}
		}
	})
}
