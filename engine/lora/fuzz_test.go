package lora_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/graft-ai/graft/engine/lora"
	"github.com/graft-ai/graft/engine/model"
	"github.com/graft-ai/graft/engine/safetensors"
)

// fuzzAdapterConfig targets everything the fuzzed tensors might name, so the
// loader's shape and value checks, not the target check, see most inputs.
const fuzzAdapterConfig = `{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": "all-linear", "rank_pattern": {"layers.1.mlp.down_proj": 2}}`

// FuzzLoadAdapter: any adapter_model.safetensors bytes, beside a valid config
// and against a small base, give an error or an adapter whose every module has
// the shapes the engine's slots require.
func FuzzLoadAdapter(f *testing.F) {
	base := smallBase(f)
	seed := func(ts []safetensors.TensorData) {
		var b bytes.Buffer
		if err := safetensors.Write(&b, ts, map[string]string{"format": "pt"}); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	seed(pairOf("0.self_attn.q_proj", 4, 64, 64))
	seed(append(pairOf("1.mlp.down_proj", 2, 64, 160), pairOf("0.self_attn.k_proj", 4, 32, 64)...))
	seed(pairOf("0.self_attn.v_proj", 4, 64, 64)) // wrong B shape
	seed(pairOf("0.mlp.up_proj", 4, 160, 64)[:1]) // A without B
	seed([]safetensors.TensorData{tensor("base_model.model.lm_head.lora_A.weight", 4, 64)})
	f16 := pairOf("1.self_attn.o_proj", 4, 64, 64)
	f16[0].DType, f16[1].DType = safetensors.F16, safetensors.BF16
	seed(f16)
	f.Add([]byte("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":{}}        "))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "adapter_config.json"), []byte(fuzzAdapterConfig), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "adapter_model.safetensors"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		a, err := lora.Load(dir, base, 16)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		checkAdapterShapes(t, a, base)
	})
}

func checkAdapterShapes(t *testing.T, a *lora.Adapter, base *model.Config) {
	t.Helper()
	if len(a.Weights) != base.Layers || len(a.Modules) == 0 {
		t.Fatalf("%d layers, %d modules", len(a.Weights), len(a.Modules))
	}
	for l := range a.Weights {
		for mod, h := range a.Weights[l] {
			if h == nil {
				continue
			}
			out, in := base.ModuleShape(mod)
			if h.Rank <= 0 || h.Rank > 16 || len(h.A) != h.Rank*in || len(h.B) != out*h.Rank {
				t.Fatalf("layer %d %s: rank %d, A %d, B %d values", l, model.ModuleNames[mod], h.Rank, len(h.A), len(h.B))
			}
		}
	}
}
