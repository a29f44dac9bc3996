package randmodel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/graft-ai/graft/engine/safetensors"
)

var torchDTypes = map[string]string{"F32": "float32", "F16": "float16", "BF16": "bfloat16"}

// WriteHF writes a Hugging Face model directory for s: config.json,
// generation_config.json, the weights stored as dtype (F32, F16 or BF16) in one
// model.safetensors or, with shards > 1, that many shards and their index, and a
// tokenizer.json/tokenizer_config.json for the synthetic vocabulary.
func WriteHF(dir string, s Spec, dtype string, shards int) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return WriteHFWeights(dir, s, s.Weights(), dtype, shards)
}

// WriteHFWeights is WriteHF with the weights given, so that a caller can write
// altered weights or write the same weights in several formats.
func WriteHFWeights(dir string, s Spec, w map[string][]float32, dtype string, shards int) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if _, ok := torchDTypes[dtype]; !ok {
		return fmt.Errorf("randmodel: safetensors dtype %q (want F32, F16 or BF16)", dtype)
	}
	v, err := NewVocab(s.Vocab)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := map[string]any{
		"config.json":            s.hfConfig(dtype),
		"generation_config.json": map[string]any{"bos_token_id": BOS, "eos_token_id": EOS, "max_length": s.MaxPositions, "do_sample": false},
		"tokenizer_config.json":  tokenizerConfig(v, s.MaxPositions),
	}
	for name, content := range files {
		if err := writeJSON(filepath.Join(dir, name), content); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tokenizerJSON(v), 0o644); err != nil {
		return err
	}
	return writeSafetensors(dir, s, w, safetensors.DType(dtype), shards)
}

func writeJSON(path string, v any) error {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false) // keep "<s>" readable, as Python's json writes it
	e.SetIndent("", "  ")
	if err := e.Encode(v); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func (s Spec) hfConfig(dtype string) map[string]any {
	c := map[string]any{
		"architectures":           []string{s.Arch},
		"vocab_size":              s.Vocab,
		"hidden_size":             s.Dim,
		"intermediate_size":       s.FFN,
		"num_hidden_layers":       s.Layers,
		"num_attention_heads":     s.Heads,
		"num_key_value_heads":     s.kvHeads(),
		"hidden_act":              "silu",
		"max_position_embeddings": s.MaxPositions,
		"rms_norm_eps":            NormEps,
		"rope_theta":              s.ropeTheta(),
		"rope_scaling":            s.RopeScaling,
		"attention_dropout":       0.0,
		"tie_word_embeddings":     s.Tied,
		"bos_token_id":            BOS,
		"eos_token_id":            EOS,
		"initializer_range":       s.std(),
		"use_cache":               true,
		"torch_dtype":             torchDTypes[dtype],
	}
	var window any
	if s.SlidingWindow > 0 {
		window = s.SlidingWindow
	}
	switch s.Arch {
	case Llama:
		c["model_type"], c["head_dim"] = "llama", s.HeadDim()
		c["attention_bias"], c["mlp_bias"], c["pretraining_tp"] = false, false, 1
	case Mistral:
		c["model_type"], c["head_dim"], c["sliding_window"] = "mistral", s.HeadDim(), window
	case Qwen2:
		// max_window_layers 0: every layer slides, the only Qwen2 layout Graft runs.
		c["model_type"], c["sliding_window"] = "qwen2", window
		c["use_sliding_window"], c["max_window_layers"] = s.SlidingWindow > 0, 0
	}
	return c
}

// writeSafetensors writes the tensors in Tensors order, split into shards of
// about equal size in that order, as transformers' save_pretrained does.
func writeSafetensors(dir string, s Spec, w map[string][]float32, dtype safetensors.DType, shards int) error {
	ts := s.Tensors()
	all := make([]safetensors.TensorData, 0, len(ts))
	total := 0
	for _, t := range ts {
		data, ok := w[t.Name]
		if !ok {
			return fmt.Errorf("randmodel: weights lack %s", t.Name)
		}
		all = append(all, safetensors.TensorData{Name: t.Name, DType: dtype, Shape: t.Shape, Data: data})
		total += len(data)
	}
	meta := map[string]string{"format": "pt"}
	if shards <= 1 {
		return safetensors.WriteFile(filepath.Join(dir, safetensors.SingleFile), all, meta)
	}
	if shards > len(all) {
		return fmt.Errorf("randmodel: %d shards for %d tensors", shards, len(all))
	}
	groups := make([][]safetensors.TensorData, shards)
	g, done := 0, 0
	for i, t := range all {
		// Move on when this shard holds its share, or when every later shard needs
		// one of the tensors left.
		left := len(all) - i
		if len(groups[g]) > 0 && g < shards-1 && (done >= (g+1)*total/shards || left == shards-1-g) {
			g++
		}
		groups[g] = append(groups[g], t)
		done += len(t.Data)
	}
	return safetensors.WriteShards(dir, groups, meta)
}
