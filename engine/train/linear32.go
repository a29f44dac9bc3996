package train

// The float32 projections: every product on the packed micro-kernel, the
// LoRA pair's up-projection riding along the frozen one as a second term,
// its weight gradients as Aᵀ·B products of the activations in place.

// linear32 is linear in float32: out = x·Wᵀ + bias + (s·dropout(x)·Aᵀ)·Bᵀ.
func linear32(n *net[float32], out, x []float32, N, l, mod int, train bool) {
	c, bl := &n.b.cfg, &n.b.layers[l]
	o, in := c.ModuleShape(mod)
	terms := []term{{rowsOf(x, in), &bl.fwd[mod]}}
	if p := n.ad.mods[l][mod]; p != nil {
		la := &n.acts[l].lora[mod]
		xd := n.dropout(la, x[:N*in], train)
		r := p.rank
		la.us = grow(la.us, N*r) // s·u, u = xd·Aᵀ: what B multiplies, and B's gradient needs
		gemmSum(n.pool, la.us, r, N, r, false, term{rowsOf(xd, in), &p.aT})
		scaleBy(la.us, n.ad.scale)
		terms = append(terms, term{rowsOf(la.us, r), &p.bTP})
	}
	gemmSum(n.pool, out, o, N, o, false, terms...)
	if bias := bl.bias[mod]; bias != nil {
		for r := 0; r < N; r++ {
			addTo(out[r*o:(r+1)*o], bias)
		}
	}
}

// linearBack32 is linearBack in float32.
func linearBack32(n *net[float32], dx, dy, x []float32, N, l, mod int, acc bool) {
	c, bl := &n.b.cfg, &n.b.layers[l]
	o, in := c.ModuleShape(mod)
	var terms []term
	if dx != nil {
		terms = append(terms, term{rowsOf(dy, o), &bl.bwd[mod]})
	}
	var du []float32
	var mask []float32
	p := n.ad.mods[l][mod]
	if p != nil {
		la := &n.acts[l].lora[mod]
		xd := x[:N*in]
		if la.xd != nil {
			xd, mask = la.xd, la.mask
		}
		r := p.rank
		// gB += dyᵀ·(s·u), [out, rank].
		n.packTmp.pack(la.us, r, N, r)
		gemmSum(n.pool, p.gb, r, o, r, true, term{colsOf(dy, o), &n.packTmp})
		// du = s·dy·B, [tokens, rank].
		du = n.small1[:N*r]
		gemmSum(n.pool, du, r, N, r, false, term{rowsOf(dy, o), &p.bP})
		scaleBy(du, n.ad.scale)
		// gA += duᵀ·xd, computed as (xdᵀ·du)ᵀ so that the long side is the rows.
		n.packTmp.pack(du, r, N, r)
		gaT := n.tmpA[:in*r]
		gemmSum(n.pool, gaT, r, in, r, false, term{colsOf(xd, in), &n.packTmp})
		for j := 0; j < r; j++ {
			g := p.ga[j*in : (j+1)*in]
			for k := range g {
				g[k] += gaT[k*r+j]
			}
		}
		if dx != nil && mask == nil {
			terms = append(terms, term{rowsOf(du, r), &p.aP}) // dx += du·A
		}
	}
	if dx == nil {
		return
	}
	gemmSum(n.pool, dx, in, N, in, acc, terms...)
	if mask != nil { // dx += (du·A)⊙mask
		dxl := n.tmpA[:N*in]
		gemmSum(n.pool, dxl, in, N, in, false, term{rowsOf(du, p.rank), &p.aP})
		parallel(n.pool, N, func(lo, hi int) {
			d, m := dx[lo*in:hi*in], mask[lo*in:hi*in]
			for i, v := range dxl[lo*in : hi*in] {
				d[i] += v * m[i]
			}
		})
	}
}

func scaleBy(s []float32, k float32) {
	for i := range s {
		s[i] *= k
	}
}
