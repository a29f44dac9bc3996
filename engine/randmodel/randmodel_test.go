package randmodel

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/graft-ai/graft/engine/float16"
	"github.com/graft-ai/graft/engine/gguf"
	"github.com/graft-ai/graft/engine/safetensors"
)

func small(arch string) Spec {
	s := Spec{
		Arch: arch, Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, FFN: 96, Vocab: 320,
		MaxPositions: 128, RopeTheta: 10000, Seed: 7, InitStd: 0.125,
	}
	if arch != Llama {
		s.SlidingWindow = 8
	}
	return s
}

// readDir returns every file of dir by name.
func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func TestWritesAreDeterministic(t *testing.T) {
	for _, arch := range []string{Llama, Mistral, Qwen2} {
		for _, shards := range []int{1, 3} {
			s := small(arch)
			a, b := t.TempDir(), t.TempDir()
			for _, d := range []string{a, b} {
				if err := WriteHF(d, s, "BF16", shards); err != nil {
					t.Fatal(err)
				}
			}
			fa, fb := readDir(t, a), readDir(t, b)
			if len(fa) != len(fb) || len(fa) != 4+shards+min(shards-1, 1) {
				t.Fatalf("%s shards %d: %d and %d files", arch, shards, len(fa), len(fb))
			}
			for name, data := range fa {
				if !bytes.Equal(data, fb[name]) {
					t.Errorf("%s shards %d: %s differs between two writes", arch, shards, name)
				}
			}
		}
	}
	s := small(Llama)
	var files [3][]byte
	for i := range files {
		if i == 2 {
			s.Seed++
		}
		p := filepath.Join(t.TempDir(), "m.gguf")
		if err := WriteGGUF(p, s, "Q8_0"); err != nil {
			t.Fatal(err)
		}
		files[i], _ = os.ReadFile(p)
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Error("two GGUF writes of one spec differ")
	}
	if bytes.Equal(files[0], files[2]) {
		t.Error("another seed wrote the same GGUF")
	}
}

func TestWeightsScale(t *testing.T) {
	s := small(Qwen2)
	w := s.Weights()
	if len(w) != len(s.Tensors()) {
		t.Fatalf("%d weights for %d tensors", len(w), len(s.Tensors()))
	}
	check := func(name string, mean, std float64) {
		v := w[name]
		var sum, sq float64
		for _, x := range v {
			sum += float64(x)
		}
		m := sum / float64(len(v))
		for _, x := range v {
			sq += (float64(x) - m) * (float64(x) - m)
		}
		sd := math.Sqrt(sq / float64(len(v)))
		// Five standard errors of the sample mean and of the sample deviation.
		n := float64(len(v))
		if math.Abs(m-mean) > 5*std/math.Sqrt(n) || math.Abs(sd-std) > 5*std/math.Sqrt(2*n) {
			t.Errorf("%s: mean %.4f sd %.4f, want about %v and %v", name, m, sd, mean, std)
		}
	}
	check("model.embed_tokens.weight", 0, s.InitStd)
	check("model.layers.1.mlp.down_proj.weight", 0, s.InitStd)
	check("model.layers.0.self_attn.q_proj.bias", 0, s.InitStd)
	check("model.norm.weight", 1, normNoise)
	if slices.Equal(w["model.layers.0.mlp.up_proj.weight"], w["model.layers.1.mlp.up_proj.weight"]) {
		t.Error("two layers got the same weights")
	}
	s.Tied = false
	if got := s.Weights(); !slices.Equal(got["model.layers.1.mlp.up_proj.weight"], w["model.layers.1.mlp.up_proj.weight"]) {
		t.Error("adding lm_head changed another tensor")
	}
}

// TestHFLoadsBack reads every tensor back through the safetensors reader: exact
// for F32, the rounding of float16's converters for F16 and BF16.
func TestHFLoadsBack(t *testing.T) {
	round := map[string]func(float32) float32{
		"F32":  func(x float32) float32 { return x },
		"F16":  func(x float32) float32 { return float16.F16ToFloat32(float16.Float32ToF16(x)) },
		"BF16": func(x float32) float32 { return float16.BF16ToFloat32(float16.Float32ToBF16(x)) },
	}
	s := small(Mistral)
	s.Tied = false
	w := s.Weights()
	for dtype, r := range round {
		for _, shards := range []int{1, 4} {
			dir := t.TempDir()
			if err := WriteHF(dir, s, dtype, shards); err != nil {
				t.Fatal(err)
			}
			st, err := safetensors.OpenModel(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(st.Names()); got != len(s.Tensors()) {
				t.Errorf("%s/%d: %d tensors, want %d", dtype, shards, got, len(s.Tensors()))
			}
			for _, ti := range s.Tensors() {
				got, shape, err := st.Float32(ti.Name)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(shape, ti.Shape) {
					t.Errorf("%s: shape %v, want %v", ti.Name, shape, ti.Shape)
				}
				for i, x := range w[ti.Name] {
					if got[i] != r(x) {
						t.Fatalf("%s/%d %s[%d] = %v, want %v", dtype, shards, ti.Name, i, got[i], r(x))
					}
				}
			}
			st.Close()
		}
	}
}

func TestShardsAreNonEmptyAndOrdered(t *testing.T) {
	s := small(Llama)
	dir := t.TempDir()
	n := len(s.Tensors())
	if err := WriteHF(dir, s, "F32", n); err != nil { // one tensor a shard
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		f, err := safetensors.Open(filepath.Join(dir, shardName(i, n)))
		if err != nil {
			t.Fatal(err)
		}
		if got := len(f.Tensors()); got != 1 {
			t.Errorf("shard %d holds %d tensors", i, got)
		}
		f.Close()
	}
	if err := WriteHF(t.TempDir(), s, "F32", n+1); err == nil {
		t.Error("more shards than tensors: no error")
	}
}

func shardName(i, n int) string {
	return fmt.Sprintf("model-%05d-of-%05d.safetensors", i, n)
}

func TestSpecErrors(t *testing.T) {
	bad := map[string]func(*Spec){
		"architecture": func(s *Spec) { s.Arch = "GPT2LMHeadModel" },
		"head dim":     func(s *Spec) { s.Heads = 3 },
		"multiple":     func(s *Spec) { s.KVHeads = 3 },
		"sliding":      func(s *Spec) { s.SlidingWindow = 4 },
		"positive":     func(s *Spec) { s.FFN = 0 },
	}
	for want, mutate := range bad {
		s := small(Llama)
		mutate(&s)
		if err := WriteHF(t.TempDir(), s, "F32", 1); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
	s := small(Llama)
	if err := WriteHF(t.TempDir(), s, "F64", 1); err == nil || !strings.Contains(err.Error(), "F64") {
		t.Errorf("F64: got %v", err)
	}
	if err := WriteGGUF(filepath.Join(t.TempDir(), "m.gguf"), small(Mistral), "F32"); err == nil || !strings.Contains(err.Error(), Mistral) {
		t.Errorf("Mistral GGUF: got %v", err)
	}
	s.RopeScaling = map[string]any{"rope_type": "yarn", "factor": 4.0}
	if err := WriteGGUF(filepath.Join(t.TempDir(), "m.gguf"), s, "F32"); err == nil || !strings.Contains(err.Error(), "yarn") {
		t.Errorf("yarn GGUF: got %v", err)
	}
	s = small(Llama)
	s.Vocab = minVocab - 1
	if err := WriteHF(t.TempDir(), s, "F32", 1); err == nil || !strings.Contains(err.Error(), "vocabulary") {
		t.Errorf("tiny vocab: got %v", err)
	}
}

func openGGUF(t *testing.T, s Spec, dtype string) *gguf.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.gguf")
	if err := WriteGGUF(p, s, dtype); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestGGUFInterleavesQK checks the q/k row order against llama.cpp's permute
// written out independently: row (h, i, p) of the file is row (h, p, i) of the
// Hugging Face tensor, for heads of d = 2·half rows.
func TestGGUFInterleavesQK(t *testing.T) {
	s := small(Llama)
	w := s.Weights()
	f := openGGUF(t, s, "F32")
	hd := s.HeadDim()
	for name, heads := range map[string]int{"q": s.Heads, "k": s.KVHeads} {
		hf := w["model.layers.1.self_attn."+name+"_proj.weight"]
		got, shape, err := f.Float32("blk.1.attn_" + name + ".weight")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(shape, []int{heads * hd, s.Dim}) {
			t.Fatalf("attn_%s shape %v", name, shape)
		}
		for h := range heads {
			for i := range hd / 2 {
				for p := range 2 {
					g := got[(h*hd+2*i+p)*s.Dim:][:s.Dim]
					want := hf[(h*hd+p*hd/2+i)*s.Dim:][:s.Dim]
					if !slices.Equal(g, want) {
						t.Fatalf("attn_%s head %d pair %d.%d: wrong row", name, h, i, p)
					}
				}
			}
		}
	}
	for hfName, ggName := range map[string]string{
		"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
		"model.layers.0.mlp.down_proj.weight":    "blk.0.ffn_down.weight",
		"model.layers.0.self_attn.v_proj.weight": "blk.0.attn_v.weight",
	} {
		got, _, err := f.Float32(ggName)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, w[hfName]) {
			t.Errorf("%s differs from %s", ggName, hfName)
		}
	}
}

func TestGGUFTypes(t *testing.T) {
	s := small(Llama)
	s.Tied = true
	s.FFN = 80 // down_proj rows of 80 values cannot be cut into Q8_0 blocks
	f := openGGUF(t, s, "Q8_0")
	want := map[string]gguf.Type{
		"token_embd.weight": gguf.TypeQ8_0, "output_norm.weight": gguf.TypeF32,
		"blk.0.attn_q.weight": gguf.TypeQ8_0, "blk.0.ffn_down.weight": gguf.TypeF16,
		"blk.0.attn_norm.weight": gguf.TypeF32,
	}
	for name, typ := range want {
		ti, ok := f.Tensor(name)
		if !ok || ti.Type != typ {
			t.Errorf("%s: type %v (present %v), want %v", name, ti.Type, ok, typ)
		}
	}
	if ft, _ := f.Uint("general.file_type"); ft != 7 {
		t.Errorf("general.file_type = %d, want 7 (MOSTLY_Q8_0)", ft)
	}
	if _, ok := f.Tensor("output.weight"); ok {
		t.Error("tied model wrote output.weight")
	}
}

// TestLlama3RopeFreqs checks rope_freqs.weight on a head whose eight
// frequencies cover all three llama3 bands: wavelengths 6.3 and below 16 keep
// their frequency, 20 and 63 are smoothed, 199 and up are divided by the factor.
func TestLlama3RopeFreqs(t *testing.T) {
	s := small(Llama)
	s.Dim, s.Heads, s.KVHeads = 64, 4, 4 // head dim 16
	s.RopeScaling = map[string]any{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
		"high_freq_factor": 4.0, "original_max_position_embeddings": 64}
	f := openGGUF(t, s, "F32")
	got, _, err := f.Float32("rope_freqs.weight")
	if err != nil {
		t.Fatal(err)
	}
	// Medium band: 1 / ((1-smooth)/8 + smooth), smooth = (64/wave - 1)/3.
	medium := func(i int) float32 {
		wave := 2 * math.Pi * math.Pow(10000, float64(2*i)/16)
		sm := (64/wave - 1) / 3
		return float32(1 / ((1-sm)/8 + sm))
	}
	want := []float32{1, medium(1), medium(2), 8, 8, 8, 8, 8}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-5*float64(want[i]) {
			t.Errorf("factor %d = %v, want %v", i, got[i], want[i])
		}
	}
	if _, ok := f.Value("llama.rope.scaling.type"); ok {
		t.Error("llama3 scaling also wrote llama.rope.scaling.type")
	}
	s.RopeScaling = map[string]any{"type": "linear", "factor": 2}
	f = openGGUF(t, s, "F32")
	if typ, _ := f.String("llama.rope.scaling.type"); typ != "linear" {
		t.Errorf("linear scaling type %q", typ)
	}
	if v, _ := f.Float("llama.rope.scaling.factor"); v != 2 {
		t.Errorf("linear scaling factor %v", v)
	}
}

// llamaCppKeys are the metadata keys llama.cpp's llama loader reads for a
// SentencePiece Llama (llm_load_hparams and llm_load_vocab).
var llamaCppKeys = []string{
	"general.architecture", "general.name", "general.file_type", "general.quantization_version",
	"llama.context_length", "llama.embedding_length", "llama.block_count", "llama.feed_forward_length",
	"llama.rope.dimension_count", "llama.attention.head_count", "llama.attention.head_count_kv",
	"llama.attention.layer_norm_rms_epsilon", "llama.rope.freq_base", "llama.vocab_size",
	"tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
	"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
}

// TestStories110MGGUF writes the full 110M shape (about 120 MB as Q8_0) and checks
// it in llama.cpp's terms: keys, values, tensor names, shapes and types.
func TestStories110MGGUF(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 110M-parameter model")
	}
	s := Stories110M(1)
	f := openGGUF(t, s, "Q8_0")
	for _, k := range llamaCppKeys {
		if _, ok := f.Value(k); !ok {
			t.Errorf("missing key %s", k)
		}
	}
	u := map[string]uint64{
		"llama.context_length": 1024, "llama.embedding_length": 768, "llama.block_count": 12,
		"llama.feed_forward_length": 2048, "llama.rope.dimension_count": 64,
		"llama.attention.head_count": 12, "llama.attention.head_count_kv": 12, "llama.vocab_size": 32000,
		"tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2, "tokenizer.ggml.unknown_token_id": 0,
	}
	for k, want := range u {
		if got, _ := f.Uint(k); got != want {
			t.Errorf("%s = %d, want %d", k, got, want)
		}
	}
	if toks, _ := f.Strings("tokenizer.ggml.tokens"); len(toks) != 32000 || toks[1] != "<s>" || toks[3] != "<0x00>" {
		t.Errorf("tokens: %d, first %q", len(toks), toks[:4])
	}
	if got := len(f.Tensors()); got != 2+12*9 {
		t.Errorf("%d tensors, want %d (tied: no output.weight)", got, 2+12*9)
	}
	shapes := map[string][]int{
		"token_embd.weight": {32000, 768}, "blk.11.attn_q.weight": {768, 768},
		"blk.11.ffn_gate.weight": {2048, 768}, "blk.11.ffn_down.weight": {768, 2048},
		"blk.11.ffn_norm.weight": {768}, "output_norm.weight": {768},
	}
	for name, shape := range shapes {
		ti, ok := f.Tensor(name)
		if !ok || !slices.Equal(ti.Shape(), shape) {
			t.Errorf("%s: present %v shape %v, want %v", name, ok, ti.Shape(), shape)
		}
	}
}
