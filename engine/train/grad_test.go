package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine"
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
