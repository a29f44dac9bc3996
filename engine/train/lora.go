package train

import (
	"math"
	"math/rand/v2"

	"github.com/graft-ai/graft/engine/model"
)

// loraParam is one target module's trainable pair, PEFT layout: a is
// [rank, in], b is [out, rank]; ga and gb accumulate their gradients.
type loraParam[T float] struct {
	a, b, ga, gb  []T
	rank, in, out int
	bT            []T // the transpose of b, refreshed before each pass
	// In float32, the operands of the pair's products packed for the
	// micro-kernel, refreshed before each pass: Aᵀ, Bᵀ (forward), B, A (backward).
	aT, bTP, bP, aP packedB
}

// adapter is every trainable pair, [layer][module], nil where not targeted.
type adapter[T float] struct {
	rank    int
	scale   T
	dropout float64
	mods    [][model.NumModules]*loraParam[T]
}

// loraScale is PEFT's scaling: alpha/r, or alpha/√r with rsLoRA.
func loraScale(alpha float64, rank int, rs bool) float64 {
	if rs {
		return alpha / math.Sqrt(float64(rank))
	}
	return alpha / float64(rank)
}

// newAdapter initialises as PEFT does: A from kaiming_uniform_(a=√5), which is
// U(-1/√in, 1/√in), B zero. Modules are drawn layer by layer in model order.
func newAdapter[T float](c *model.Config, targets [model.NumModules]bool, rank int, scale, dropout float64, rng *rand.Rand) *adapter[T] {
	ad := &adapter[T]{rank: rank, scale: T(scale), dropout: dropout, mods: make([][model.NumModules]*loraParam[T], c.Layers)}
	for l := range ad.mods {
		for mod, on := range targets {
			if !on {
				continue
			}
			out, in := c.ModuleShape(mod)
			p := &loraParam[T]{
				a: make([]T, rank*in), b: make([]T, out*rank), ga: make([]T, rank*in), gb: make([]T, out*rank),
				rank: rank, in: in, out: out, bT: make([]T, out*rank),
			}
			bound := 1 / math.Sqrt(float64(in))
			for i := range p.a {
				p.a[i] = T((2*rng.Float64() - 1) * bound)
			}
			ad.mods[l][mod] = p
		}
	}
	return ad
}

// each calls fn on every trainable pair in a fixed order (layer, module).
func (ad *adapter[T]) each(fn func(l, mod int, p *loraParam[T])) {
	for l := range ad.mods {
		for mod, p := range ad.mods[l] {
			if p != nil {
				fn(l, mod, p)
			}
		}
	}
}

func (ad *adapter[T]) zeroGrad() {
	ad.each(func(_, _ int, p *loraParam[T]) { clear(p.ga); clear(p.gb) })
}

func (ad *adapter[T]) refreshTransposes() {
	if af, ok := any(ad).(*adapter[float32]); ok {
		af.each(func(_, _ int, p *loraParam[float32]) {
			p.aT.packT(p.a, p.in, p.in, p.rank)
			p.bTP.packT(p.b, p.rank, p.rank, p.out)
			p.bP.pack(p.b, p.rank, p.out, p.rank)
			p.aP.pack(p.a, p.in, p.rank, p.in)
		})
		return
	}
	ad.each(func(_, _ int, p *loraParam[T]) {
		transpose(p.bT, p.b, p.out, p.rank)
	})
}
