package train

import (
	"math"

	"github.com/graft-ai/graft/engine/kernel"
)

// adamW is torch.optim.AdamW (not fused, no amsgrad): decoupled weight decay,
// bias-corrected moments, betas (0.9, 0.999), eps 1e-8.
type adamW struct {
	wd   float64
	step int
	m, v [][]float32
}

const (
	beta1, beta2, adamEps = 0.9, 0.999, 1e-8
)

func newAdamW(params [][]float32, wd float64) *adamW {
	o := &adamW{wd: wd}
	for _, p := range params {
		o.m = append(o.m, make([]float32, len(p)))
		o.v = append(o.v, make([]float32, len(p)))
	}
	return o
}

// update applies one step with learning rate lr, the tensors spread over
// pool (each element's update is independent, so the split changes nothing).
func (o *adamW) update(pool *kernel.Pool, params, grads [][]float32, lr float64) {
	o.step++
	bc1 := 1 - math.Pow(beta1, float64(o.step))
	bc2 := math.Sqrt(1 - math.Pow(beta2, float64(o.step)))
	parallel(pool, len(params), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			p, g, m, v := params[i], grads[i], o.m[i], o.v[i]
			for j := range p {
				w := float64(p[j]) * (1 - lr*o.wd)
				gj := float64(g[j])
				mj := float64(m[j]) + (gj-float64(m[j]))*(1-beta1)
				vj := float64(v[j])*beta2 + (1-beta2)*gj*gj
				m[j], v[j] = float32(mj), float32(vj)
				w -= lr / bc1 * mj / (math.Sqrt(vj)/bc2 + adamEps)
				p[j] = float32(w)
			}
		}
	})
}

// clipGrads scales grads so that their global L2 norm is at most maxNorm, as
// torch.nn.utils.clip_grad_norm_ does, and returns the norm before clipping.
func clipGrads(grads [][]float32, maxNorm float64) float64 {
	var ss float64
	for _, g := range grads {
		for _, v := range g {
			ss += float64(v) * float64(v)
		}
	}
	norm := math.Sqrt(ss)
	if maxNorm <= 0 {
		return norm
	}
	if coef := maxNorm / (norm + 1e-6); coef < 1 {
		for _, g := range grads {
			for j := range g {
				g[j] = float32(float64(g[j]) * coef)
			}
		}
	}
	return norm
}

// lrFactor is transformers' schedule multiplier at optimizer step s (from 0)
// of total: linear warm-up over warmup steps, then linear or half-cosine decay
// to 0, or constant.
func lrFactor(schedule string, s, warmup, total int) float64 {
	if s < warmup {
		return float64(s) / float64(max(1, warmup))
	}
	progress := float64(s-warmup) / float64(max(1, total-warmup))
	switch schedule {
	case "cosine":
		return max(0, 0.5*(1+math.Cos(math.Pi*progress)))
	case "constant":
		return 1
	}
	return max(0, float64(total-s)/float64(max(1, total-warmup)))
}
