package randmodel

import (
	"fmt"
	"math"
	"strings"

	"github.com/graft-ai/graft/engine/gguf"
)

// ggufTypes maps a dtype to its tensor type and llama.cpp's general.file_type
// (LLAMA_FTYPE_ALL_F32, MOSTLY_F16, MOSTLY_Q8_0, MOSTLY_BF16).
var ggufTypes = map[string]struct {
	typ      gguf.Type
	fileType uint32
}{
	"F32": {gguf.TypeF32, 0}, "F16": {gguf.TypeF16, 1}, "Q8_0": {gguf.TypeQ8_0, 7}, "BF16": {gguf.TypeBF16, 32},
}

// WriteGGUF writes s (Llama architecture only) as a llama.cpp GGUF file with
// matrices stored as dtype (F32, F16, BF16 or Q8_0).
func WriteGGUF(path string, s Spec, dtype string) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return WriteGGUFWeights(path, s, s.Weights(), dtype)
}

// WriteGGUFWeights is WriteGGUF with the weights given under their Hugging Face
// names, in rotate_half order, as Weights returns them.
func WriteGGUFWeights(path string, s Spec, w map[string][]float32, dtype string) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if s.Arch != Llama {
		return fmt.Errorf("randmodel: GGUF is written for %s only, not %s", Llama, s.Arch)
	}
	ft, ok := ggufTypes[dtype]
	if !ok {
		return fmt.Errorf("randmodel: GGUF dtype %q (want F32, F16, BF16 or Q8_0)", dtype)
	}
	v, err := NewVocab(s.Vocab)
	if err != nil {
		return err
	}
	gw := gguf.NewWriter()
	if err := s.ggufMetadata(gw, ft.fileType, v); err != nil {
		return err
	}
	if err := s.ggufTensors(gw, w, ft.typ); err != nil {
		return err
	}
	return gw.WriteFile(path)
}

// ggufMetadata sets the keys llama.cpp's convert_hf_to_gguf.py writes for a
// Llama model with a SentencePiece vocabulary.
func (s Spec) ggufMetadata(gw *gguf.Writer, fileType uint32, v *Vocab) error {
	gw.SetString("general.architecture", "llama")
	gw.SetString("general.name", fmt.Sprintf("randmodel-%d", s.Seed))
	gw.SetUint32("llama.block_count", uint32(s.Layers))
	gw.SetUint32("llama.context_length", uint32(s.MaxPositions))
	gw.SetUint32("llama.embedding_length", uint32(s.Dim))
	gw.SetUint32("llama.feed_forward_length", uint32(s.FFN))
	gw.SetUint32("llama.attention.head_count", uint32(s.Heads))
	gw.SetUint32("llama.attention.head_count_kv", uint32(s.kvHeads()))
	gw.SetFloat32("llama.rope.freq_base", float32(s.ropeTheta()))
	gw.SetFloat32("llama.attention.layer_norm_rms_epsilon", NormEps)
	gw.SetUint32("general.file_type", fileType)
	gw.SetUint32("llama.vocab_size", uint32(s.Vocab))
	gw.SetUint32("llama.rope.dimension_count", uint32(s.HeadDim()))
	if typ, factor := s.ropeScaling(); typ == "linear" {
		gw.SetString("llama.rope.scaling.type", "linear")
		gw.SetFloat32("llama.rope.scaling.factor", float32(factor))
	}
	gw.SetUint32("general.quantization_version", 2)
	gw.SetString("tokenizer.ggml.model", "llama")
	gw.SetStrings("tokenizer.ggml.tokens", v.Tokens)
	if err := gw.Set("tokenizer.ggml.scores", v.Scores); err != nil {
		return err
	}
	if err := gw.Set("tokenizer.ggml.token_type", v.Types); err != nil {
		return err
	}
	gw.SetUint32("tokenizer.ggml.bos_token_id", BOS)
	gw.SetUint32("tokenizer.ggml.eos_token_id", EOS)
	gw.SetUint32("tokenizer.ggml.unknown_token_id", UNK)
	if err := gw.Set("tokenizer.ggml.add_bos_token", true); err != nil {
		return err
	}
	return gw.Set("tokenizer.ggml.add_eos_token", false)
}

// ropeScaling returns rope_scaling's type (rope_type, or the legacy type key)
// and factor.
func (s Spec) ropeScaling() (string, float64) {
	if s.RopeScaling == nil {
		return "", 0
	}
	typ, _ := s.RopeScaling["rope_type"].(string)
	if typ == "" {
		typ, _ = s.RopeScaling["type"].(string)
	}
	return typ, s.ropeParam("factor", 1)
}

func (s Spec) ropeParam(key string, def float64) float64 {
	switch x := s.RopeScaling[key].(type) {
	case float64:
		return x
	case float32:
		return float64(x)
	case int:
		return float64(x)
	}
	return def
}

// ggufTensors adds the weights under llama.cpp's names: 1-D tensors stay F32 and a
// matrix whose rows cannot be cut into Q8_0 blocks falls back to F16, as the
// converter does; q/k rows go to the interleaved-pair RoPE order.
func (s Spec) ggufTensors(gw *gguf.Writer, w map[string][]float32, typ gguf.Type) error {
	if factors, err := s.ropeFreqs(); err != nil {
		return err
	} else if factors != nil {
		if err := gw.AddTensor("rope_freqs.weight", gguf.TypeF32, []int{len(factors)}, factors); err != nil {
			return err
		}
	}
	for _, t := range s.Tensors() {
		data, ok := w[t.Name]
		if !ok {
			return fmt.Errorf("randmodel: weights lack %s", t.Name)
		}
		name, heads := ggufName(t.Name), 0
		switch {
		case strings.HasSuffix(t.Name, "q_proj.weight"):
			heads = s.Heads
		case strings.HasSuffix(t.Name, "k_proj.weight"):
			heads = s.kvHeads()
		}
		if heads > 0 {
			data = interleave(data, heads, t.Shape[0]/heads, t.Shape[1])
		}
		tt := typ
		if len(t.Shape) == 1 {
			tt = gguf.TypeF32
		} else if tt == gguf.TypeQ8_0 && t.Shape[1]%gguf.Q8_0BlockSize != 0 {
			tt = gguf.TypeF16
		}
		if err := gw.AddTensor(name, tt, t.Shape, data); err != nil {
			return err
		}
	}
	return nil
}

func ggufName(hf string) string {
	r := strings.NewReplacer(
		"model.embed_tokens.", "token_embd.", "model.norm.", "output_norm.", "lm_head.", "output.",
		"model.layers.", "blk.", "input_layernorm", "attn_norm", "post_attention_layernorm", "ffn_norm",
		"self_attn.q_proj", "attn_q", "self_attn.k_proj", "attn_k", "self_attn.v_proj", "attn_v",
		"self_attn.o_proj", "attn_output", "mlp.gate_proj", "ffn_gate", "mlp.up_proj", "ffn_up",
		"mlp.down_proj", "ffn_down",
	)
	return r.Replace(hf)
}

// interleave is llama.cpp's permute for q/k: rows i and i+d/2 of each head, which
// rotate together in Hugging Face's rotate_half, become rows 2i and 2i+1
// (w.reshape(heads, 2, d/2, cols).swapaxes(1, 2)).
func interleave(w []float32, heads, headDim, cols int) []float32 {
	out := make([]float32, len(w))
	half := headDim / 2
	for h := 0; h < heads; h++ {
		for p := 0; p < 2; p++ {
			for i := 0; i < half; i++ {
				src := (h*headDim + p*half + i) * cols
				dst := (h*headDim + 2*i + p) * cols
				copy(out[dst:dst+cols], w[src:src+cols])
			}
		}
	}
	return out
}

// ropeFreqs computes, for llama3 rope scaling, the per-dimension divisors of the
// rotary frequencies that llama.cpp's converter stores as rope_freqs.weight
// (LlamaModel.generate_extra_tensors): the frequencies in float32 as torch makes
// them, the factors in float64 as Python does.
func (s Spec) ropeFreqs() ([]float32, error) {
	typ, factor := s.ropeScaling()
	switch typ {
	case "", "default", "linear":
		return nil, nil
	case "llama3":
	default:
		return nil, fmt.Errorf("randmodel: rope_scaling type %q cannot be written to GGUF", typ)
	}
	low, high := s.ropeParam("low_freq_factor", 1), s.ropeParam("high_freq_factor", 4)
	old := s.ropeParam("original_max_position_embeddings", 8192)
	lowWave, highWave := old/low, old/high
	dim := s.HeadDim()
	out := make([]float32, dim/2)
	for i := range out {
		freq := float64(float32(1 / math.Pow(s.ropeTheta(), float64(2*i)/float64(dim))))
		wave := 2 * math.Pi / freq
		switch {
		case wave < highWave:
			out[i] = 1
		case wave > lowWave:
			out[i] = float32(factor)
		default:
			smooth := (old/wave - low) / (high - low)
			out[i] = float32(1 / ((1-smooth)/factor + smooth))
		}
	}
	return out, nil
}
