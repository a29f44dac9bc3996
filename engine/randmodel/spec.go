// Package randmodel makes seeded random Llama-family models: weights, Hugging Face
// directories and GGUF files, with a synthetic SentencePiece-style vocabulary, so
// that loaders, the forward pass and benchmarks can run on any architecture variant
// and size without downloading a model.
package randmodel

import "fmt"

// Spec is the shape of one random model. The same Spec always gives the same
// weights and the same files.
type Spec struct {
	Arch          string // LlamaForCausalLM, MistralForCausalLM or Qwen2ForCausalLM
	Dim           int
	Layers        int
	Heads         int
	KVHeads       int // 0 means Heads
	FFN           int
	Vocab         int
	MaxPositions  int
	Tied          bool
	SlidingWindow int // Mistral and Qwen2; 0 means full attention
	RopeTheta     float64
	RopeScaling   map[string]any // Hugging Face rope_scaling, nil for none
	Seed          uint64
	// InitStd is the standard deviation of embeddings, projections and biases.
	// 0 means 0.02, transformers' initializer_range; tests that want attention
	// to depend strongly on position use about 1/sqrt(Dim).
	InitStd float64
}

// NormEps is the rms_norm_eps every random model is written with.
const NormEps = 1e-5

// The architectures a Spec may name.
const (
	Llama   = "LlamaForCausalLM"
	Mistral = "MistralForCausalLM"
	Qwen2   = "Qwen2ForCausalLM"
)

// Stories110M is the shape of llama2.c's stories110M: dim 768, 12 layers of 12
// heads, FFN 2048, the 32000-token Llama vocabulary, tied embeddings.
func Stories110M(seed uint64) Spec {
	return Spec{
		Arch: Llama, Dim: 768, Layers: 12, Heads: 12, KVHeads: 12, FFN: 2048,
		Vocab: 32000, MaxPositions: 1024, Tied: true, RopeTheta: 10000, Seed: seed,
	}
}

// HeadDim is the width of one attention head.
func (s Spec) HeadDim() int { return s.Dim / s.Heads }

func (s Spec) kvHeads() int {
	if s.KVHeads == 0 {
		return s.Heads
	}
	return s.KVHeads
}

func (s Spec) std() float64 {
	if s.InitStd == 0 {
		return 0.02
	}
	return s.InitStd
}

func (s Spec) ropeTheta() float64 {
	if s.RopeTheta == 0 {
		return 10000
	}
	return s.RopeTheta
}

// Validate reports a Spec that no loader would accept.
func (s Spec) Validate() error {
	switch {
	case s.Arch != Llama && s.Arch != Mistral && s.Arch != Qwen2:
		return fmt.Errorf("randmodel: architecture %q (want %s, %s or %s)", s.Arch, Llama, Mistral, Qwen2)
	case s.Dim <= 0 || s.Layers <= 0 || s.Heads <= 0 || s.FFN <= 0 || s.Vocab <= 0 || s.MaxPositions <= 0:
		return fmt.Errorf("randmodel: dim %d, layers %d, heads %d, FFN %d, vocab %d and max positions %d must be positive",
			s.Dim, s.Layers, s.Heads, s.FFN, s.Vocab, s.MaxPositions)
	case s.Dim%s.Heads != 0 || s.HeadDim()%2 != 0:
		return fmt.Errorf("randmodel: dim %d over %d heads must give an even head dim", s.Dim, s.Heads)
	case s.kvHeads() < 0 || s.Heads%s.kvHeads() != 0:
		return fmt.Errorf("randmodel: %d heads is not a multiple of %d key/value heads", s.Heads, s.kvHeads())
	case s.SlidingWindow < 0 || (s.SlidingWindow > 0 && s.Arch == Llama):
		return fmt.Errorf("randmodel: sliding window %d needs %s or %s", s.SlidingWindow, Mistral, Qwen2)
	case s.InitStd < 0:
		return fmt.Errorf("randmodel: negative InitStd %v", s.InitStd)
	}
	return nil
}

// TensorInfo names one weight in Hugging Face terms with its row-major shape.
type TensorInfo struct {
	Name  string
	Shape []int
	kind  tensorKind
}

type tensorKind int

const (
	kindMatrix tensorKind = iota // projections and embeddings
	kindNorm                     // RMSNorm weights, near 1
	kindBias
)

// Tensors lists the model's weights in a fixed order: embeddings, then each
// layer, then the final norm and (untied) the output head.
func (s Spec) Tensors() []TensorInfo {
	hd, kv := s.HeadDim(), s.kvHeads()
	q, k := s.Heads*hd, kv*hd
	ts := []TensorInfo{{Name: "model.embed_tokens.weight", Shape: []int{s.Vocab, s.Dim}}}
	for i := 0; i < s.Layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		ts = append(ts,
			TensorInfo{Name: p + "input_layernorm.weight", Shape: []int{s.Dim}, kind: kindNorm},
			TensorInfo{Name: p + "self_attn.q_proj.weight", Shape: []int{q, s.Dim}},
			TensorInfo{Name: p + "self_attn.k_proj.weight", Shape: []int{k, s.Dim}},
			TensorInfo{Name: p + "self_attn.v_proj.weight", Shape: []int{k, s.Dim}},
		)
		if s.Arch == Qwen2 {
			ts = append(ts,
				TensorInfo{Name: p + "self_attn.q_proj.bias", Shape: []int{q}, kind: kindBias},
				TensorInfo{Name: p + "self_attn.k_proj.bias", Shape: []int{k}, kind: kindBias},
				TensorInfo{Name: p + "self_attn.v_proj.bias", Shape: []int{k}, kind: kindBias},
			)
		}
		ts = append(ts,
			TensorInfo{Name: p + "self_attn.o_proj.weight", Shape: []int{s.Dim, q}},
			TensorInfo{Name: p + "post_attention_layernorm.weight", Shape: []int{s.Dim}, kind: kindNorm},
			TensorInfo{Name: p + "mlp.gate_proj.weight", Shape: []int{s.FFN, s.Dim}},
			TensorInfo{Name: p + "mlp.up_proj.weight", Shape: []int{s.FFN, s.Dim}},
			TensorInfo{Name: p + "mlp.down_proj.weight", Shape: []int{s.Dim, s.FFN}},
		)
	}
	ts = append(ts, TensorInfo{Name: "model.norm.weight", Shape: []int{s.Dim}, kind: kindNorm})
	if !s.Tied {
		ts = append(ts, TensorInfo{Name: "lm_head.weight", Shape: []int{s.Vocab, s.Dim}})
	}
	return ts
}

// Elements is the number of values in a tensor of this shape.
func (t TensorInfo) Elements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}
