package model

import (
	"testing"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/compute/cpu"
	"github.com/graft-ai/graft/engine/gguf"
	"github.com/graft-ai/graft/engine/safetensors"
)

// wideBackend hides the CPU backend's bfloat16 support, so weights are
// widened to float32 on load: the baseline for the narrow path.
type wideBackend struct{ compute.Backend }

// TestBF16WeightsStayNarrow: bfloat16 files keep their projection, embedding and
// output matrices in bfloat16 on the CPU backend (half the memory and traffic);
// the narrow path gives the same logits as widening on load, bit for bit, from
// GGUF (interleaved q/k rows) and safetensors, and matches the float64
// reference on the rounded weights.
func TestBF16WeightsStayNarrow(t *testing.T) {
	s := baseSpec()
	s.Tied = false
	prompt := testPrompt(s.Seed, 40, s.Vocab)
	b := cpu.New(0)
	defer b.Close()

	f, err := gguf.Open(writeGGUF(t, s, s.Weights(), "BF16"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hfDir := writeHF(t, s, s.Weights(), "BF16", 1)
	type pair struct{ narrow, wide *Model }
	models := map[string]pair{}
	for name, load := range map[string]func(compute.Backend) (*Model, error){
		"gguf": func(be compute.Backend) (*Model, error) { return LoadGGUF(f, be) },
		"hf":   func(be compute.Backend) (*Model, error) { return openHFWith(t, hfDir, be) },
	} {
		narrow, err := load(b)
		if err != nil {
			t.Fatal(err)
		}
		wide, err := load(wideBackend{b})
		if err != nil {
			t.Fatal(err)
		}
		models[name] = pair{narrow, wide}
	}
	for name, p := range models {
		ly := p.narrow.Layers[0]
		for _, mat := range []compute.Matrix{ly.Q.W, ly.K.W, ly.Down.W, p.narrow.Embed, p.narrow.Output} {
			if !mat.(*cpu.Matrix).Narrow() {
				t.Errorf("%s: a bf16 weight matrix was widened to float32", name)
			}
		}
		if d := compare(forwardAll(t, p.narrow, prompt), forwardAll(t, p.wide, prompt)); d.max != 0 {
			t.Errorf("%s: bf16 weights kept narrow vs widened on load differ by %v", name, d)
		}
	}
	if d := compare(forwardAll(t, models["hf"].narrow, prompt), newRef(s, rounded(s.Weights(), "BF16")).forward(prompt)); d.max > refTol {
		t.Errorf("bf16 model vs the reference on rounded weights: %v", d)
	}
}

func openHFWith(t *testing.T, dir string, b compute.Backend) (*Model, error) {
	t.Helper()
	st, err := safetensors.OpenModel(dir)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { st.Close() })
	return LoadHF(dir, st, b)
}
