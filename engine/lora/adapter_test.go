package lora_test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ai/graft/engine/lora"
	"github.com/graft-ai/graft/engine/model"
	"github.com/graft-ai/graft/engine/randmodel"
	"github.com/graft-ai/graft/engine/safetensors"
)

// smallBase is the base model of the loader tests: dim 64, q 64, k/v 32, FFN 160, 2 layers.
func smallBase(t testing.TB) *model.Config {
	t.Helper()
	dir := t.TempDir()
	if err := randmodel.WriteHF(dir, mergeBase, "F32", 1); err != nil {
		t.Fatal(err)
	}
	c, err := model.ReadHFConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const validConfig = `{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "k_proj", "down_proj", "lm_head", "embed_tokens"]}`

func tensor(name string, shape ...int) safetensors.TensorData {
	n := 1
	for _, d := range shape {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(i%7) * 0.01
	}
	return safetensors.TensorData{Name: name, DType: safetensors.F32, Shape: shape, Data: data}
}

func pairOf(prefix string, rank, out, in int) []safetensors.TensorData {
	p := "base_model.model.model.layers." + prefix
	return []safetensors.TensorData{tensor(p+".lora_A.weight", rank, in), tensor(p+".lora_B.weight", out, rank)}
}

func writeAdapterDir(t testing.TB, config string, ts []safetensors.TensorData) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "adapter_config.json"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if ts != nil {
		if err := safetensors.WriteFile(filepath.Join(dir, "adapter_model.safetensors"), ts, nil); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadValid(t *testing.T) {
	c := smallBase(t)
	ts := append(pairOf("0.self_attn.q_proj", 4, 64, 64), pairOf("1.self_attn.k_proj", 4, 32, 64)...)
	ts = append(ts, pairOf("1.mlp.down_proj", 4, 64, 160)...)
	// PEFT sometimes keeps the adapter name in the tensor names.
	ts = append(ts, tensor("base_model.model.model.layers.0.mlp.down_proj.lora_A.default.weight", 4, 160),
		tensor("base_model.model.model.layers.0.mlp.down_proj.lora_B.default.weight", 64, 4))
	a, err := lora.Load(writeAdapterDir(t, validConfig, ts), c, 16)
	if err != nil {
		t.Fatal(err)
	}
	if a.Rank != 4 || strings.Join(a.Modules, ",") != "q_proj,k_proj,down_proj" {
		t.Errorf("rank %d modules %v", a.Rank, a.Modules)
	}
	if a.Weights[0][model.ModK] != nil || a.Weights[1][model.ModK] == nil || a.Weights[0][model.ModDown] == nil {
		t.Error("weights in the wrong layer or module")
	}
	if want := int64(4 * (4*64 + 64*4 + 4*64 + 32*4 + 2*(4*160+64*4))); a.SizeBytes != want {
		t.Errorf("size %d, want %d", a.SizeBytes, want)
	}
	if h := a.Weights[1][model.ModDown]; h.Scale != 2 || h.Rank != 4 {
		t.Errorf("down_proj rank %d scale %v", h.Rank, h.Scale)
	}
}

// TestLoadRejects: each kind of bad adapter fails with an error naming the
// problem, before anything reaches the engine.
func TestLoadRejects(t *testing.T) {
	c := smallBase(t)
	q := pairOf("0.self_attn.q_proj", 4, 64, 64)
	with := func(extra ...safetensors.TensorData) []safetensors.TensorData {
		return append(append([]safetensors.TensorData(nil), q...), extra...)
	}
	nan := tensor("base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight", 4, 64)
	nan.Data[17] = float32(math.NaN())
	inf := tensor("base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight", 32, 4)
	inf.Data[3] = float32(math.Inf(-1))
	for _, tc := range []struct {
		name   string
		config string
		ts     []safetensors.TensorData
		want   string
	}{
		{"embedding LoRA", validConfig, with(tensor("base_model.model.model.embed_tokens.lora_embedding_A", 4, 300)), "not a supported LoRA weight"},
		{"lm_head", validConfig, with(tensor("base_model.model.lm_head.lora_A.weight", 4, 64)), "not a supported LoRA weight"},
		{"bias", validConfig, with(tensor("base_model.model.model.layers.0.self_attn.q_proj.lora_B.bias", 64)), "not a supported LoRA weight"},
		{"magnitude", validConfig, with(tensor("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", 64)), "magnitude"},
		{"full module", validConfig, with(tensor("base_model.model.model.layers.0.self_attn.q_proj.weight", 64, 64)), "not a supported LoRA weight"},
		{"layer out of range", validConfig, with(pairOf("2.self_attn.q_proj", 4, 64, 64)...), "layer 2 does not exist"},
		{"huge layer", validConfig, with(pairOf("99999999999999999999.self_attn.q_proj", 4, 64, 64)...), "does not exist"},
		{"wrong block", validConfig, with(pairOf("0.mlp.q_proj", 4, 64, 64)...), "not a supported target"},
		{"not targeted", validConfig, with(pairOf("0.self_attn.v_proj", 4, 32, 64)...), "not in target_modules"},
		{"A only", validConfig, q[:1], "lora_A and lora_B must both be present"},
		{"B only", validConfig, q[1:], "lora_A and lora_B must both be present"},
		{"A wrong in", validConfig, with(pairOf("0.self_attn.k_proj", 4, 32, 48)...), "does not fit this base model"},
		{"B wrong out", validConfig, with(pairOf("0.self_attn.k_proj", 4, 64, 64)...), "does not fit this base model"},
		{"rank differs from config", validConfig, pairOf("0.self_attn.q_proj", 2, 64, 64), "does not fit"},
		{"transposed A", validConfig, with(tensor("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight", 160, 4), tensor("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight", 64, 4)), "does not fit"},
		{"3-D tensor", validConfig, with(tensor("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight", 4, 160, 1)), "does not fit"},
		{"NaN", validConfig, with(nan, inf), "NaN or Inf"},
		{"Inf", validConfig, with(tensor(nan.Name, 4, 64), inf), "NaN or Inf"},
		{"rank above max", strings.Replace(validConfig, `"r": 4`, `"r": 32`, 1), pairOf("0.self_attn.q_proj", 32, 64, 64), "above the maximum adapter rank 16"},
		{"no tensors", validConfig, []safetensors.TensorData{}, "adapter_model.safetensors holds no tensors"},
		{"no LoRA tensors", validConfig, []safetensors.TensorData{tensor("base_model.model.lm_head.weight", 4)}, "not a supported LoRA weight"},
		{"unknown target", `{"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "w_proj"]}`, q, `target_modules names "w_proj", which is not a module of the base model`},
		// The config is checked before the weights file is even opened.
		{"config first", `{"r": 0, "lora_alpha": 8, "target_modules": ["q_proj"]}`, nil, "adapter_config.json: r = 0"},
		{"negative alpha", `{"r": 4, "lora_alpha": -8, "target_modules": ["q_proj"]}`, q, "lora_alpha = -8: must be a finite positive number"},
		{"bad config", `{"r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "use_dora": true}`, q, "DoRA"},
	} {
		dir := writeAdapterDir(t, tc.config, tc.ts)
		_, err := lora.Load(dir, c, 16)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		} else if strings.Contains(err.Error(), dir) || !strings.HasPrefix(err.Error(), "adapter_") {
			t.Errorf("%s: error %q does not start with the adapter file's name, or shows the folder", tc.name, err)
		}
	}
}

func TestLoadMissingFiles(t *testing.T) {
	c := smallBase(t)
	dir := writeAdapterDir(t, validConfig, nil)
	if err := os.WriteFile(filepath.Join(dir, "adapter_model.bin"), []byte("pickle"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := lora.Load(dir, c, 16); err == nil || !strings.Contains(err.Error(), "adapter_model.bin is not loaded") {
		t.Errorf("pickled adapter: %v", err)
	}
	if _, err := lora.Load(t.TempDir(), c, 16); err == nil || !strings.Contains(err.Error(), "adapter_config.json") {
		t.Errorf("empty directory: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "adapter_model.safetensors"), []byte("\x08\x00\x00\x00\x00\x00\x00\x00{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := lora.Load(dir, c, 16); err == nil {
		t.Error("truncated safetensors loaded")
	}
}

// TestLoadF16: PEFT often saves adapters in the training dtype; they load as float32.
func TestLoadF16(t *testing.T) {
	ts := pairOf("0.self_attn.q_proj", 4, 64, 64)
	for i := range ts {
		ts[i].DType = safetensors.F16
	}
	a, err := lora.Load(writeAdapterDir(t, validConfig, ts), smallBase(t), 16)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Weights[0][model.ModQ].A[8]; math.Abs(float64(got)-0.01) > 1e-4 {
		t.Errorf("A[8] = %v, want 0.01", got)
	}
}
