package train

// linear sets out = x·Wᵀ + bias + scale·B·A·dropout(x) for projection mod of
// layer l, keeping what the LoRA backward pass needs.
func (n *net[T]) linear(out, x []T, N, l, mod int, train bool) {
	if nf, ok := any(n).(*net[float32]); ok {
		linear32(nf, any(out).([]float32), any(x).([]float32), N, l, mod, train)
		return
	}
	c, bl := &n.b.cfg, &n.b.layers[l]
	o, in := c.ModuleShape(mod)
	matmulB(n.pool, out, x, bl.wT[mod], N, in, o)
	if bias := bl.bias[mod]; bias != nil {
		for r := 0; r < N; r++ {
			addTo(out[r*o:(r+1)*o], bias)
		}
	}
	p := n.ad.mods[l][mod]
	if p == nil {
		return
	}
	la := &n.acts[l].lora[mod]
	xd := n.dropout(la, x[:N*in], train)
	r := p.rank
	la.uT = grow(la.uT, r*N)
	matmul(n.pool, la.uT, p.a, xd, r, in, N) // uT[j, t] = A[j]·xd[t]
	u := n.small1[:N*r]
	transpose(u, la.uT, r, N)
	tmp := n.tmpC[:N*o]
	matmulB(n.pool, tmp, u, p.bT, N, r, o)
	s := n.ad.scale
	parallel(n.pool, N, func(lo, hi int) {
		for i := lo * o; i < hi*o; i++ {
			out[i] += s * tmp[i]
		}
	})
}

// dropout returns the LoRA input: x, or with dropout in training x times a
// fresh mask, both kept in la.
func (n *net[T]) dropout(la *loraActs[T], x []T, train bool) []T {
	la.xd, la.mask = nil, nil
	if !train || n.ad.dropout == 0 {
		return x
	}
	la.xd, la.mask = grow(la.xd, len(x)), grow(la.mask, len(x))
	keep := T(1 / (1 - n.ad.dropout))
	for i, v := range x {
		la.mask[i] = 0
		if n.dropRng.Float64() >= n.ad.dropout {
			la.mask[i] = keep
		}
		la.xd[i] = v * la.mask[i]
	}
	return la.xd
}

// linearBack sets (or, with acc, adds to) dx the gradient of the input of
// projection mod of layer l given dy, the gradient of its output, and
// accumulates the LoRA pair's gradients. A nil dx skips the input's gradient
// (layer 0's input comes from the frozen embedding).
func (n *net[T]) linearBack(dx, dy, x []T, N, l, mod int, acc bool) {
	if nf, ok := any(n).(*net[float32]); ok {
		linearBack32(nf, any(dx).([]float32), any(dy).([]float32), any(x).([]float32), N, l, mod, acc)
		return
	}
	c, bl := &n.b.cfg, &n.b.layers[l]
	o, in := c.ModuleShape(mod)
	if dx != nil {
		dst := dx[:N*in]
		if acc {
			dst = n.tmpA[:N*in]
		}
		matmulB(n.pool, dst, dy, bl.w[mod], N, o, in)
		if acc {
			parallel(n.pool, N, func(lo, hi int) { addTo(dx[lo*in:hi*in], dst[lo*in:hi*in]) })
		}
	}
	p := n.ad.mods[l][mod]
	if p == nil {
		return
	}
	la := &n.acts[l].lora[mod]
	xd := x[:N*in]
	if la.xd != nil {
		xd = la.xd
	}
	r, s := p.rank, n.ad.scale
	// gB[o, j] += s·Σ_t dy[t, o]·u[t, j], computed as (uᵀ·dy)ᵀ.
	gbT := n.tmpA[:r*o]
	matmulB(n.pool, gbT, la.uT, dy, r, N, o)
	for j := 0; j < r; j++ {
		for k := 0; k < o; k++ {
			p.gb[k*r+j] += s * gbT[j*o+k]
		}
	}
	// duᵀ = s·Bᵀ·dyᵀ, [rank, tokens].
	duT := n.small2[:r*N]
	matmul(n.pool, duT, p.bT, dy, r, o, N)
	for i := range duT {
		duT[i] *= s
	}
	// gA[j, k] += Σ_t du[t, j]·xd[t, k].
	ga := n.tmpA[:r*in]
	matmulB(n.pool, ga, duT, xd, r, N, in)
	addTo(p.ga, ga)
	if dx == nil {
		return
	}
	// dx += (du·A)⊙mask.
	du := n.small1[:N*r]
	transpose(du, duT, r, N)
	dxl := n.tmpA[:N*in]
	matmulB(n.pool, dxl, du, p.a, N, r, in)
	parallel(n.pool, N, func(lo, hi int) {
		d, l := dx[lo*in:hi*in], dxl[lo*in:hi*in]
		if la.mask != nil {
			for i, m := range la.mask[lo*in : hi*in] {
				l[i] *= m
			}
		}
		addTo(d, l)
	})
}
