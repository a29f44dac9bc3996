package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/kernel"
	"github.com/graft-ai/graft/engine/model"
	"github.com/graft-ai/graft/engine/randmodel"
)

// tinyBase writes a small random model and loads it in float64.
func tinyBase(t *testing.T, s randmodel.Spec) *base[float64] {
	t.Helper()
	dir := t.TempDir()
	if err := randmodel.WriteHF(dir, s, "F32", 1); err != nil {
		t.Fatal(err)
	}
	l, err := engine.Load(dir, hostBackend{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return newBase[float64](l.Model)
}

func allTargets() (t [model.NumModules]bool) {
	for i := range t {
		t[i] = true
	}
	return t
}

// gradCase is one finite-difference check.
type gradCase struct {
	name    string
	spec    randmodel.Spec
	dropout float64
	rs      bool
}

func gradCases() []gradCase {
	llama := randmodel.Spec{Arch: randmodel.Llama, Dim: 16, Layers: 2, Heads: 4, KVHeads: 2, FFN: 24,
		Vocab: 300, MaxPositions: 64, Seed: 7, InitStd: 0.25}
	mha := llama
	mha.KVHeads, mha.Tied, mha.Seed = 4, true, 8
	qwen := llama
	qwen.Arch, qwen.Seed = randmodel.Qwen2, 9
	mistral := llama
	mistral.Arch, mistral.SlidingWindow, mistral.Seed = randmodel.Mistral, 3, 10
	return []gradCase{
		{name: "llama-gqa", spec: llama},
		{name: "llama-mha-tied-rslora", spec: mha, rs: true},
		{name: "llama-dropout", spec: llama, dropout: 0.3},
		{name: "qwen2-bias", spec: qwen},
		{name: "mistral-window", spec: mistral},
	}
}

// TestGradientsMatchFiniteDifferences checks the analytic gradient of every
// LoRA module type against central differences of the float64 loss, through
// RMSNorm, RoPE, GQA causal attention and the SiLU MLP.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	for _, gc := range gradCases() {
		t.Run(gc.name, func(t *testing.T) {
			b := tinyBase(t, gc.spec)
			rng := rand.New(rand.NewPCG(1, 2))
			ad := newAdapter[float64](&b.cfg, allTargets(), 3, loraScale(6, 3, gc.rs), gc.dropout, rng)
			ad.each(func(_, _ int, p *loraParam[float64]) { // B = 0 would zero every gradient of A
				for i := range p.b {
					p.b[i] = rng.NormFloat64() * 0.3
				}
			})
			n := newNet(b, ad, nil, 64, rand.New(rand.NewPCG(5, 6)))
			pk := &packed{}
			for _, s := range []int{9, 5, 7} {
				toks, tg := make([]int32, s), make([]int32, s)
				for i := range toks {
					toks[i] = int32(rng.IntN(gc.spec.Vocab))
				}
				for i := range tg {
					tg[i] = -1
					if i+1 < s && i >= 2 {
						tg[i] = toks[i+1]
					}
				}
				pk.add(toks, tg)
			}
			loss := func() float64 {
				n.dropRng = rand.New(rand.NewPCG(5, 6)) // the same dropout masks every time
				l, _, _ := n.forward(pk, true, nil)
				return l
			}
			loss()
			ad.zeroGrad()
			n.backward(pk, 1, nil)
			worst := 0.0
			ad.each(func(l, mod int, p *loraParam[float64]) {
				for _, which := range []string{"A", "B"} {
					w, g := p.a, p.ga
					if which == "B" {
						w, g = p.b, p.gb
					}
					for k := 0; k < 4; k++ {
						i := rng.IntN(len(w))
						orig := w[i]
						const h = 1e-5
						w[i] = orig + h
						lp := loss()
						w[i] = orig - h
						lm := loss()
						w[i] = orig
						fd := (lp - lm) / (2 * h)
						rel := math.Abs(fd-g[i]) / math.Max(math.Abs(fd)+math.Abs(g[i]), 1e-6)
						worst = math.Max(worst, rel)
						if rel > 1e-5 {
							t.Errorf("layer %d %s %s[%d]: analytic %.9g, finite difference %.9g (rel %.2g)",
								l, model.ModuleNames[mod], which, i, g[i], fd, rel)
						}
					}
				}
			})
			t.Logf("max relative error over %s: %.3g", fmt.Sprint(model.ModuleNames), worst)
		})
	}
}

// TestFloat32MatchesFloat64 checks the float32 fast paths (packed GEMM,
// fused LoRA terms, in-place attention) against the float64 reference code
// that the finite differences check, over the same cases: loss and every
// gradient.
func TestFloat32MatchesFloat64(t *testing.T) {
	for _, gc := range gradCases() {
		t.Run(gc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := randmodel.WriteHF(dir, gc.spec, "F32", 1); err != nil {
				t.Fatal(err)
			}
			l, err := engine.Load(dir, hostBackend{})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			b64, b32 := newBase[float64](l.Model), newBase[float32](l.Model)
			rng := rand.New(rand.NewPCG(1, 2))
			ad64 := newAdapter[float64](&b64.cfg, allTargets(), 3, loraScale(6, 3, gc.rs), gc.dropout, rng)
			ad64.each(func(_, _ int, p *loraParam[float64]) {
				for i := range p.b {
					p.b[i] = rng.NormFloat64() * 0.3
				}
			})
			ad32 := newAdapter[float32](&b32.cfg, allTargets(), 3, loraScale(6, 3, gc.rs), gc.dropout, rng)
			ad32.each(func(l, mod int, p *loraParam[float32]) {
				q := ad64.mods[l][mod]
				for i := range p.a {
					p.a[i] = float32(q.a[i])
				}
				for i := range p.b {
					p.b[i] = float32(q.b[i])
				}
			})
			pk := &packed{}
			for _, s := range []int{9, 5, 7, 40} {
				toks, tg := make([]int32, s), make([]int32, s)
				for i := range toks {
					toks[i] = int32(rng.IntN(gc.spec.Vocab))
				}
				for i := range tg {
					tg[i] = -1
					if i+1 < s && i >= 2 {
						tg[i] = toks[i+1]
					}
				}
				pk.add(toks, tg)
			}
			pool := kernel.NewPool(2)
			defer pool.Close()
			n64 := newNet(b64, ad64, nil, 64, rand.New(rand.NewPCG(5, 6)))
			n32 := newNet(b32, ad32, pool, 64, rand.New(rand.NewPCG(5, 6)))
			l64, _, _ := n64.forward(pk, true, nil)
			l32, _, _ := n32.forward(pk, true, nil)
			if d := math.Abs(l64 - l32); d > 1e-5*math.Abs(l64) {
				t.Errorf("loss: float32 %.9g, float64 %.9g", l32, l64)
			}
			ad64.zeroGrad()
			ad32.zeroGrad()
			n64.backward(pk, 1, nil)
			n32.backward(pk, 1, nil)
			worst := 0.0
			ad64.each(func(l, mod int, p *loraParam[float64]) {
				q := ad32.mods[l][mod]
				for _, g := range [][2]any{{p.ga, q.ga}, {p.gb, q.gb}} {
					g64, g32 := g[0].([]float64), g[1].([]float32)
					var scale float64
					for _, v := range g64 {
						scale = math.Max(scale, math.Abs(v))
					}
					for i, v := range g64 {
						e := math.Abs(v-float64(g32[i])) / math.Max(scale, 1e-12)
						worst = math.Max(worst, e)
						if e > 1e-4 {
							t.Fatalf("layer %d %s [%d]: float32 %.9g, float64 %.9g", l, model.ModuleNames[mod], i, g32[i], v)
						}
					}
				}
			})
			t.Logf("worst difference relative to each gradient's largest entry: %.3g", worst)
		})
	}
}
