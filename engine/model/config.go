// Package model holds the Llama-family transformer: its hyper-parameters, weights
// loaded from GGUF or Hugging Face safetensors, and the forward pass over a flat batch
// of tokens from many sequences, written against compute.Backend.
package model

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
)

// Config is the architecture of one model, whatever file it came from.
type Config struct {
	Arch          string // LlamaForCausalLM, MistralForCausalLM or Qwen2ForCausalLM
	Dim           int
	Layers        int
	Heads         int
	KVHeads       int
	HeadDim       int
	FFN           int
	Vocab         int
	NormEps       float32
	RopeTheta     float64
	RopeScaling   *RopeScaling
	MaxPositions  int
	SlidingWindow int // 0 = full attention
	// WindowFrom is the first layer that uses SlidingWindow (Qwen2's
	// max_window_layers); earlier layers attend to everything.
	WindowFrom    int
	TiedEmbedding bool
	QKVBias       bool
	OutBias       bool // attention_bias on o_proj (Llama's attention_bias covers all four)
	BOS           int32
	EOS           []int32
}

// RopeScaling is Hugging Face's rope_scaling for the types Graft supports.
type RopeScaling struct {
	Type                 string  `json:"rope_type"`
	LegacyType           string  `json:"type"`
	Factor               float64 `json:"factor"`
	LowFreqFactor        float64 `json:"low_freq_factor"`
	HighFreqFactor       float64 `json:"high_freq_factor"`
	OriginalMaxPositions int     `json:"original_max_position_embeddings"`
	perDimFactors        []float32
}

type hfConfig struct {
	Architectures         []string        `json:"architectures"`
	HiddenSize            int             `json:"hidden_size"`
	IntermediateSize      int             `json:"intermediate_size"`
	NumHiddenLayers       int             `json:"num_hidden_layers"`
	NumAttentionHeads     int             `json:"num_attention_heads"`
	NumKeyValueHeads      int             `json:"num_key_value_heads"`
	HeadDim               int             `json:"head_dim"`
	VocabSize             int             `json:"vocab_size"`
	RMSNormEps            float64         `json:"rms_norm_eps"`
	RopeTheta             float64         `json:"rope_theta"`
	RopeScaling           *RopeScaling    `json:"rope_scaling"`
	MaxPositionEmbeddings int             `json:"max_position_embeddings"`
	SlidingWindow         *int            `json:"sliding_window"`
	UseSlidingWindow      *bool           `json:"use_sliding_window"`
	MaxWindowLayers       *int            `json:"max_window_layers"`
	TieWordEmbeddings     *bool           `json:"tie_word_embeddings"`
	AttentionBias         bool            `json:"attention_bias"`
	BOSTokenID            *int32          `json:"bos_token_id"`
	EOSTokenID            json.RawMessage `json:"eos_token_id"`
}

// Size limits that no real model reaches; they stop a hostile config.json from
// making the loader allocate absurd amounts before the weights are checked.
const (
	maxDim    = 1 << 16
	maxLayers = 1024
	maxVocab  = 1 << 22
)

// ReadHFConfig reads a Hugging Face config.json.
func ReadHFConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseHFConfig(data)
}

// ParseHFConfig parses config.json bytes and checks the architecture is one Graft runs.
func ParseHFConfig(data []byte) (*Config, error) {
	var h hfConfig
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	if len(h.Architectures) != 1 {
		return nil, fmt.Errorf("config.json: architectures = %v, want exactly one", h.Architectures)
	}
	c := &Config{
		Arch: h.Architectures[0], Dim: h.HiddenSize, Layers: h.NumHiddenLayers,
		Heads: h.NumAttentionHeads, KVHeads: h.NumKeyValueHeads, HeadDim: h.HeadDim,
		FFN: h.IntermediateSize, Vocab: h.VocabSize, NormEps: float32(h.RMSNormEps),
		RopeTheta: h.RopeTheta, RopeScaling: h.RopeScaling, MaxPositions: h.MaxPositionEmbeddings,
		OutBias: h.AttentionBias, QKVBias: h.AttentionBias, BOS: 1,
	}
	switch c.Arch {
	case "LlamaForCausalLM":
	case "MistralForCausalLM":
		if h.SlidingWindow != nil {
			c.SlidingWindow = *h.SlidingWindow
		}
	case "Qwen2ForCausalLM":
		c.QKVBias, c.OutBias = true, false
		if h.UseSlidingWindow != nil && *h.UseSlidingWindow && h.SlidingWindow != nil {
			c.SlidingWindow = *h.SlidingWindow
			c.WindowFrom = 28 // Qwen2Config's default max_window_layers
			if h.MaxWindowLayers != nil {
				c.WindowFrom = *h.MaxWindowLayers
			}
		}
	default:
		return nil, fmt.Errorf("config.json: architecture %q is not supported (want LlamaForCausalLM, MistralForCausalLM or Qwen2ForCausalLM)", c.Arch)
	}
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.HeadDim == 0 && c.Heads > 0 {
		c.HeadDim = c.Dim / c.Heads
	}
	if c.RopeTheta == 0 {
		c.RopeTheta = 10000
	}
	if c.NormEps == 0 {
		c.NormEps = 1e-6
	}
	// transformers' PretrainedConfig defaults tie_word_embeddings to true; the
	// loader also ties when lm_head.weight is absent.
	c.TiedEmbedding = h.TieWordEmbeddings == nil || *h.TieWordEmbeddings
	if h.BOSTokenID != nil {
		c.BOS = *h.BOSTokenID
	}
	c.EOS = parseEOS(h.EOSTokenID)
	return c, c.validate()
}

func parseEOS(raw json.RawMessage) []int32 {
	var one int32
	if json.Unmarshal(raw, &one) == nil {
		return []int32{one}
	}
	var many []int32
	if json.Unmarshal(raw, &many) == nil {
		return many
	}
	return nil
}

func (c *Config) validate() error {
	switch {
	case c.Dim <= 0 || c.Dim > maxDim:
		return fmt.Errorf("model config: hidden size %d out of range", c.Dim)
	case c.Layers <= 0 || c.Layers > maxLayers:
		return fmt.Errorf("model config: %d layers out of range", c.Layers)
	case c.Heads <= 0 || c.KVHeads <= 0 || c.Heads%c.KVHeads != 0:
		return fmt.Errorf("model config: %d heads with %d key/value heads: want a positive multiple", c.Heads, c.KVHeads)
	case c.HeadDim <= 0 || c.HeadDim%2 != 0 || c.HeadDim > maxDim:
		return fmt.Errorf("model config: head dim %d must be positive and even", c.HeadDim)
	case c.FFN <= 0 || c.FFN > 1<<20:
		return fmt.Errorf("model config: intermediate size %d out of range", c.FFN)
	case c.Vocab <= 0 || c.Vocab > maxVocab:
		return fmt.Errorf("model config: vocabulary size %d out of range", c.Vocab)
	case c.SlidingWindow < 0:
		return fmt.Errorf("model config: sliding window %d is negative", c.SlidingWindow)
	case math.IsNaN(c.RopeTheta) || c.RopeTheta <= 0:
		return fmt.Errorf("model config: rope theta %v must be positive", c.RopeTheta)
	}
	if r := c.RopeScaling; r != nil {
		if r.Type == "" {
			r.Type = r.LegacyType
		}
		switch r.Type {
		case "", "default":
			c.RopeScaling = nil
		case "linear":
			if r.Factor <= 0 {
				return fmt.Errorf("rope_scaling: linear needs a positive factor, got %v", r.Factor)
			}
		case "llama3":
			if r.perDimFactors == nil && (r.Factor <= 0 || r.LowFreqFactor <= 0 || r.HighFreqFactor <= r.LowFreqFactor || r.OriginalMaxPositions <= 0) {
				return fmt.Errorf("rope_scaling: llama3 needs factor, low_freq_factor < high_freq_factor and original_max_position_embeddings")
			}
		default:
			return fmt.Errorf("rope_scaling type %q is not supported (want linear or llama3)", r.Type)
		}
	}
	return nil
}

// InvFreq returns the rotary frequencies of one head, scaling applied exactly as
// transformers' rope initialisation functions do.
func (c *Config) InvFreq() []float64 {
	half := c.HeadDim / 2
	inv := make([]float64, half)
	for i := range inv {
		inv[i] = 1 / math.Pow(c.RopeTheta, float64(2*i)/float64(c.HeadDim))
	}
	r := c.RopeScaling
	if r == nil {
		return inv
	}
	if r.perDimFactors != nil { // GGUF's rope_freqs.weight: llama.cpp divides by it
		for i := range inv {
			inv[i] /= float64(r.perDimFactors[i])
		}
		return inv
	}
	switch r.Type {
	case "linear":
		for i := range inv {
			inv[i] /= r.Factor
		}
	case "llama3":
		lowWave := float64(r.OriginalMaxPositions) / r.LowFreqFactor
		highWave := float64(r.OriginalMaxPositions) / r.HighFreqFactor
		for i, f := range inv {
			wave := 2 * math.Pi / f
			switch {
			case wave < highWave:
			case wave > lowWave:
				inv[i] = f / r.Factor
			default:
				s := (float64(r.OriginalMaxPositions)/wave - r.LowFreqFactor) / (r.HighFreqFactor - r.LowFreqFactor)
				inv[i] = (1-s)*f/r.Factor + s*f
			}
		}
	}
	return inv
}
