package model

import (
	"fmt"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/gguf"
)

type ggufTensors struct{ f *gguf.File }

func (g ggufTensors) Float32(name string) ([]float32, []int, error) { return g.f.Float32(name) }
func (g ggufTensors) Has(name string) bool                          { _, ok := g.f.Tensor(name); return ok }

// GGUFConfig reads the hyper-parameters of a llama-architecture GGUF file.
func GGUFConfig(f *gguf.File) (*Config, error) {
	arch, _ := f.String("general.architecture")
	if arch != "llama" {
		return nil, fmt.Errorf("gguf: architecture %q is not supported (want llama)", arch)
	}
	u := func(key string) int {
		v, _ := f.Uint("llama." + key)
		if v > 1<<31 {
			return -1 // out of range: validate rejects it
		}
		return int(v)
	}
	c := &Config{
		Arch: "LlamaForCausalLM", Dim: u("embedding_length"), Layers: u("block_count"),
		Heads: u("attention.head_count"), KVHeads: u("attention.head_count_kv"),
		FFN: u("feed_forward_length"), MaxPositions: u("context_length"), RopeTheta: 10000,
		NormEps: 1e-5, BOS: 1, EOS: []int32{2},
	}
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.Heads > 0 {
		c.HeadDim = c.Dim / c.Heads
	}
	if rd := u("rope.dimension_count"); rd > 0 && rd != c.HeadDim {
		return nil, fmt.Errorf("gguf: partial rotary embedding (rope.dimension_count %d of head dim %d) is not supported", rd, c.HeadDim)
	}
	if v, ok := f.Float("llama.attention.layer_norm_rms_epsilon"); ok {
		c.NormEps = float32(v)
	}
	if v, ok := f.Float("llama.rope.freq_base"); ok {
		c.RopeTheta = v
	}
	if toks, ok := f.Strings("tokenizer.ggml.tokens"); ok {
		c.Vocab = len(toks)
	}
	if v, ok := f.Uint("llama.vocab_size"); ok && v < 1<<31 {
		c.Vocab = int(v)
	}
	if v, ok := f.Uint("tokenizer.ggml.bos_token_id"); ok && v < 1<<31 {
		c.BOS = int32(v)
	}
	if v, ok := f.Uint("tokenizer.ggml.eos_token_id"); ok && v < 1<<31 {
		c.EOS = []int32{int32(v)}
	}
	if err := ggufRopeScaling(f, c); err != nil {
		return nil, err
	}
	return c, c.validate()
}

func ggufRopeScaling(f *gguf.File, c *Config) error {
	if _, ok := f.Tensor("rope_freqs.weight"); ok { // llama3-style factors, precomputed
		factors, _, err := f.Float32("rope_freqs.weight")
		if err != nil {
			return fmt.Errorf("gguf: rope_freqs.weight: %w", err)
		}
		if len(factors) != c.HeadDim/2 {
			return fmt.Errorf("gguf: rope_freqs.weight has %d factors, want %d", len(factors), c.HeadDim/2)
		}
		c.RopeScaling = &RopeScaling{Type: "llama3", perDimFactors: factors}
		return nil
	}
	typ, _ := f.String("llama.rope.scaling.type")
	switch typ {
	case "", "none":
		return nil
	case "linear":
		factor, _ := f.Float("llama.rope.scaling.factor")
		c.RopeScaling = &RopeScaling{Type: "linear", Factor: factor}
		return nil
	}
	return fmt.Errorf("gguf: rope scaling %q is not supported", typ)
}

// LoadGGUF builds the model from an open GGUF file. The caller keeps f open for
// as long as the model is used: F32 weights may alias its memory map.
func LoadGGUF(f *gguf.File, b compute.Backend) (*Model, error) {
	return LoadGGUFWith(f, b, LoadOptions{})
}

// LoadGGUFWith is LoadGGUF with options.
func LoadGGUFWith(f *gguf.File, b compute.Backend, o LoadOptions) (*Model, error) {
	c, err := GGUFConfig(f)
	if err != nil {
		return nil, err
	}
	return load(c, ggufTensors{f}, ggufNames, b, o)
}

func (g ggufTensors) Stored(name string) (gguf.Type, []byte, []int, bool) {
	raw, t, err := g.f.Raw(name)
	if err != nil || t.Type == gguf.TypeF32 {
		return 0, nil, nil, false
	}
	return t.Type, raw, t.Shape(), true
}

// Release lets the file's pages under tensor name leave the resident set.
func (g ggufTensors) Release(name string) {
	if data, _, err := g.f.Raw(name); err == nil {
		g.f.Release(data)
	}
}
