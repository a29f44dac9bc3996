package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/graft-ai/graft/engine/model"
	"github.com/graft-ai/graft/engine/safetensors"
)

// peftName is PEFT's tensor name of one LoRA weight of a Llama-family model.
func peftName(l, mod int, which string) string {
	part := "self_attn"
	if mod >= model.ModGate {
		part = "mlp"
	}
	return fmt.Sprintf("base_model.model.model.layers.%d.%s.%s.lora_%s.weight", l, part, model.ModuleNames[mod], which)
}

// peftConfig is adapter_config.json as PEFT 0.13 writes it for LoRA.
func peftConfig(cfg Config) map[string]any {
	var targets []string
	for _, n := range model.ModuleNames { // model order, whatever order the job named them in
		for _, t := range cfg.TargetModules {
			if t == n {
				targets = append(targets, n)
				break
			}
		}
	}
	base, rev := peftBase(cfg.BaseModel)
	return map[string]any{
		"alpha_pattern": map[string]any{}, "auto_mapping": nil,
		"base_model_name_or_path": base, "bias": "none", "fan_in_fan_out": false,
		"inference_mode": true, "init_lora_weights": true, "layer_replication": nil,
		"layers_pattern": nil, "layers_to_transform": nil, "loftq_config": map[string]any{},
		"lora_alpha": cfg.Alpha, "lora_dropout": cfg.Dropout, "megatron_config": nil,
		"megatron_core": "megatron.core", "modules_to_save": nil, "peft_type": "LORA",
		"r": cfg.Rank, "rank_pattern": map[string]any{}, "revision": rev,
		"target_modules": targets, "task_type": "CAUSAL_LM", "use_dora": false,
		"use_rslora": cfg.RSLoRA,
	}
}

// writeAdapter writes the PEFT folder into a temporary sibling and renames it
// into place, so that dir never holds a half-written adapter.
func writeAdapter[T float](dir string, cfg Config, ad *adapter[T]) error {
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	cj, err := json.MarshalIndent(peftConfig(cfg), "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "adapter_config.json"), cj, 0o644); err != nil {
		return err
	}
	var ts []safetensors.TensorData
	ad.each(func(l, mod int, p *loraParam[T]) {
		ts = append(ts,
			safetensors.TensorData{Name: peftName(l, mod, "A"), DType: safetensors.F32, Shape: []int{p.rank, p.in}, Data: toF32(p.a)},
			safetensors.TensorData{Name: peftName(l, mod, "B"), DType: safetensors.F32, Shape: []int{p.out, p.rank}, Data: toF32(p.b)})
	})
	if err := safetensors.WriteFile(filepath.Join(tmp, "adapter_model.safetensors"), ts, map[string]string{"format": "pt"}); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

func toF32[T float](s []T) []float32 {
	if f, ok := any(s).([]float32); ok {
		return f
	}
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = float32(v)
	}
	return out
}

// peftBase writes a Hub base model as PEFT does: the repository id in
// base_model_name_or_path and the commit in revision (nil for a local path).
func peftBase(model string) (string, any) {
	id, ok := strings.CutPrefix(model, "hf://")
	if !ok {
		return model, nil
	}
	if repo, rev, ok := strings.Cut(id, "@"); ok {
		return repo, rev
	}
	return id, nil
}
