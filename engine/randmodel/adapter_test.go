package randmodel_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/graft-ai/graft/engine/lora"
	"github.com/graft-ai/graft/engine/model"
	"github.com/graft-ai/graft/engine/randmodel"
	"github.com/graft-ai/graft/engine/safetensors"
)

var adapterBase = randmodel.Spec{Arch: randmodel.Llama, Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, FFN: 96,
	Vocab: 320, MaxPositions: 64, Seed: 3}

// baseConfig is the model.Config the engine would read from adapterBase.
func baseConfig(t *testing.T) *model.Config {
	t.Helper()
	dir := t.TempDir()
	if err := randmodel.WriteHF(dir, adapterBase, "F32", 1); err != nil {
		t.Fatal(err)
	}
	c, err := model.ReadHFConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestWriteAdapterLoads: the written directory is what PEFT writes (its config
// keys, tensor names and shapes) and Graft's loader reads back the same values,
// ranks and scales.
func TestWriteAdapterLoads(t *testing.T) {
	spec := randmodel.AdapterSpec{Rank: 8, Alpha: 16, RSLoRA: true, Targets: []string{"q_proj", "k_proj", "down_proj"},
		RankPattern: map[string]int{"k_proj": 4}, AlphaPattern: map[string]float64{"layers.1.mlp.down_proj": 2}, Seed: 9}
	dir := t.TempDir()
	if err := randmodel.WriteAdapter(dir, adapterBase, spec); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "adapter_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	if err := json.Unmarshal(raw, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"peft_type", "r", "lora_alpha", "target_modules", "rank_pattern", "alpha_pattern",
		"use_rslora", "use_dora", "bias", "fan_in_fan_out", "modules_to_save", "task_type", "base_model_name_or_path"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("adapter_config.json lacks %q", k)
		}
	}
	st, err := safetensors.Open(filepath.Join(dir, "adapter_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, shape, err := st.Float32("base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight")
	if err != nil || !slices.Equal(shape, []int{4, 64}) {
		t.Errorf("k_proj lora_A: shape %v, %v; want [4 64]", shape, err)
	}
	_, shape, err = st.Float32("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight")
	if err != nil || !slices.Equal(shape, []int{64, 8}) {
		t.Errorf("down_proj lora_B: shape %v, %v; want [64 8]", shape, err)
	}

	a, err := lora.Load(dir, baseConfig(t), 64)
	if err != nil {
		t.Fatal(err)
	}
	mods, err := randmodel.AdapterWeights(adapterBase, spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) != 2*3 {
		t.Errorf("%d modules, want 6", len(mods))
	}
	checkLoaded(t, a, mods)
}

func checkLoaded(t *testing.T, a *lora.Adapter, mods map[string]randmodel.AdapterModule) {
	t.Helper()
	for l := range a.Weights {
		for mod, h := range a.Weights[l] {
			part := "self_attn."
			if mod >= model.ModGate {
				part = "mlp."
			}
			name := fmt.Sprintf("model.layers.%d.%s%s", l, part, model.ModuleNames[mod])
			m, ok := mods[name]
			if (h != nil) != ok {
				t.Errorf("%s: loaded %v, written %v", name, h != nil, ok)
				continue
			}
			if !ok {
				continue
			}
			if h.Rank != m.Rank || math.Abs(float64(h.Scale)-m.Scale) > 1e-6 || !slices.Equal(h.A, m.A) || !slices.Equal(h.B, m.B) {
				t.Errorf("%s: loaded rank %d scale %v, written rank %d scale %v (or values differ)", name, h.Rank, h.Scale, m.Rank, m.Scale)
			}
		}
	}
}

// TestAdapterDeltaSize: the delta is about Rho of the base weight in norm,
// whatever the rank and scaling, so random adapters stay "visible but
// moderate" at any configuration.
func TestAdapterDeltaSize(t *testing.T) {
	w := adapterBase.Weights()
	for _, spec := range []randmodel.AdapterSpec{
		{Rank: 4, Alpha: 8, Targets: randmodel.AdapterModules, Seed: 1},
		{Rank: 16, Alpha: 4, RSLoRA: true, Targets: randmodel.AdapterModules, Seed: 2, Rho: 0.3},
	} {
		mods, err := randmodel.AdapterWeights(adapterBase, spec)
		if err != nil {
			t.Fatal(err)
		}
		rho := spec.Rho
		if rho == 0 {
			rho = randmodel.DefaultRho
		}
		for name, m := range mods {
			var dn, wn float64
			for o := range m.Out {
				for i := range m.In {
					var d float64
					for k := range m.Rank {
						d += float64(m.B[o*m.Rank+k]) * float64(m.A[k*m.In+i])
					}
					d *= m.Scale
					dn += d * d
					wv := float64(w[name+".weight"][o*m.In+i])
					wn += wv * wv
				}
			}
			if got := math.Sqrt(dn / wn); got < 0.6*rho || got > 1.4*rho {
				t.Errorf("rank %d %s: ||delta||/||W|| = %.3f, want about %.2f", m.Rank, name, got, rho)
			}
		}
	}
}

// TestAdapterDeterministic: the same spec gives the same values; another seed
// does not.
func TestAdapterDeterministic(t *testing.T) {
	s := randmodel.AdapterSpec{Rank: 2, Alpha: 4, TargetRegex: `.*\.1\.self_attn\.v_proj`, Seed: 5}
	a, _ := randmodel.AdapterWeights(adapterBase, s)
	b, _ := randmodel.AdapterWeights(adapterBase, s)
	s.Seed++
	c, err := randmodel.AdapterWeights(adapterBase, s)
	if err != nil {
		t.Fatal(err)
	}
	const name = "model.layers.1.self_attn.v_proj"
	if len(a) != 1 || !slices.Equal(a[name].B, b[name].B) || slices.Equal(a[name].B, c[name].B) {
		t.Errorf("modules %d; same seed equal %v; other seed equal %v", len(a), slices.Equal(a[name].B, b[name].B), slices.Equal(a[name].B, c[name].B))
	}
}

func TestAdapterSpecErrors(t *testing.T) {
	for name, s := range map[string]randmodel.AdapterSpec{
		"no targets":   {Rank: 2, Alpha: 2},
		"bad regex":    {Rank: 2, Alpha: 2, TargetRegex: "("},
		"no match":     {Rank: 2, Alpha: 2, Targets: []string{"lm_head"}},
		"zero rank":    {Rank: 0, Alpha: 2, Targets: []string{"q_proj"}},
		"zero alpha":   {Rank: 2, Targets: []string{"q_proj"}},
		"bad pattern":  {Rank: 2, Alpha: 2, Targets: []string{"q_proj"}, RankPattern: map[string]int{"[": 1}},
		"pattern to 0": {Rank: 2, Alpha: 2, Targets: []string{"q_proj"}, RankPattern: map[string]int{"q_proj": 0}},
	} {
		if _, err := randmodel.AdapterWeights(adapterBase, s); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
