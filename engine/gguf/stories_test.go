package gguf

import (
	"slices"
	"testing"
	"unsafe"

	"github.com/graft-ai/graft/engine/safetensors"
	"github.com/graft-ai/graft/internal/testmodels"
)

func openStories(t *testing.T) *File {
	t.Helper()
	f, err := Open(testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestStoriesMetadata(t *testing.T) {
	f := openStories(t)
	if f.Version != 3 || f.Alignment != 32 {
		t.Errorf("version %d alignment %d, want 3 and 32", f.Version, f.Alignment)
	}
	if arch, _ := f.String("general.architecture"); arch != "llama" {
		t.Errorf("architecture %q, want llama", arch)
	}
	want := map[string]uint64{
		"llama.embedding_length":        64,
		"llama.block_count":             5,
		"llama.attention.head_count":    8,
		"llama.attention.head_count_kv": 4,
		"llama.feed_forward_length":     172,
		"llama.context_length":          2048,
	}
	for k, v := range want {
		if got, ok := f.Uint(k); !ok || got != v {
			t.Errorf("%s = %d (found %v), want %d", k, got, ok, v)
		}
	}
	if eps, ok := f.Float("llama.attention.layer_norm_rms_epsilon"); !ok || float32(eps) != 1e-5 {
		t.Errorf("rms epsilon %v (found %v), want 1e-5", eps, ok)
	}
	// The llama2.c converter writes the tokenizer first (checked with a
	// separate reader of the first key).
	keys := f.Keys()
	if len(keys) != 19 || keys[0] != "tokenizer.ggml.tokens" || keys[18] != "llama.attention.layer_norm_rms_epsilon" {
		t.Errorf("keys not in file order: %v", keys)
	}
}

func TestStoriesTokenizer(t *testing.T) {
	f := openStories(t)
	tokens, ok := f.Strings("tokenizer.ggml.tokens")
	if !ok || len(tokens) != 512 {
		t.Fatalf("tokens: %d (found %v), want 512", len(tokens), ok)
	}
	if tokens[0] != "<unk>" || tokens[1] != "<s>" || tokens[2] != "</s>" || tokens[3] != "<0x00>" {
		t.Errorf("first tokens %q", tokens[:4])
	}
	scores, ok := f.Float32s("tokenizer.ggml.scores")
	if !ok || len(scores) != 512 {
		t.Errorf("scores: %d (found %v), want 512", len(scores), ok)
	}
	types, ok := f.Int32s("tokenizer.ggml.token_type")
	if !ok || len(types) != 512 {
		t.Fatalf("token types: %d (found %v), want 512", len(types), ok)
	}
	// PROVENANCE.md: 2 unknown, 3 control, 6 byte, 1 normal.
	for id, typ := range types {
		want := int32(1)
		switch {
		case id == 0:
			want = 2
		case id <= 2:
			want = 3
		case id <= 258:
			want = 6
		}
		if typ != want {
			t.Errorf("token %d (%q) type %d, want %d", id, tokens[id], typ, want)
		}
	}
	if m, _ := f.String("tokenizer.ggml.model"); m != "llama" {
		t.Errorf("tokenizer model %q, want llama", m)
	}
}

func TestStoriesTensors(t *testing.T) {
	f := openStories(t)
	if n := len(f.Tensors()); n != 3+9*5 {
		t.Errorf("%d tensors, want %d", n, 3+9*5)
	}
	ti, ok := f.Tensor("token_embd.weight")
	if !ok || ti.Type != TypeF32 || !slices.Equal(ti.Dims, []int{64, 512}) || !slices.Equal(ti.Shape(), []int{512, 64}) {
		t.Fatalf("token_embd.weight: %+v (found %v)", ti, ok)
	}
	emb, shape, err := f.Float32("token_embd.weight")
	if err != nil || !slices.Equal(shape, []int{512, 64}) || len(emb) != 512*64 {
		t.Fatalf("Float32: shape %v len %d err %v", shape, len(emb), err)
	}
	raw, _, _ := f.Raw("token_embd.weight")
	if unsafe.Pointer(&emb[0]) != unsafe.Pointer(&raw[0]) {
		t.Error("F32 tensor was copied; want a view of the mapping")
	}
	out, _, err := f.Float32("output.weight")
	if err != nil || !slices.Equal(out, emb) {
		t.Errorf("output.weight differs from token_embd.weight (err %v)", err)
	}
	q, qs, err := f.Float32("blk.0.attn_q.weight")
	if err != nil || !slices.Equal(qs, []int{64, 64}) || len(q) != 64*64 {
		t.Errorf("blk.0.attn_q.weight: shape %v err %v", qs, err)
	}
	if _, _, err := f.Float32("no.such.tensor"); err == nil {
		t.Error("missing tensor gave no error")
	}
}

// TestStoriesMatchesSafetensors: the GGUF and the Hugging Face conversion
// descend from one llama2.c checkpoint, and the embedding was copied
// unpermuted into both (PROVENANCE.md), so it must agree bit for bit.
func TestStoriesMatchesSafetensors(t *testing.T) {
	f := openStories(t)
	st, err := safetensors.Open(testmodels.Path(t, "stories260K", "hf", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hf, hfShape, err := st.Float32("model.embed_tokens.weight")
	if err != nil {
		t.Fatal(err)
	}
	emb, shape, err := f.Float32("token_embd.weight")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shape, hfShape) || !slices.Equal(emb, hf) {
		t.Errorf("token_embd.weight %v differs from model.embed_tokens.weight %v", shape, hfShape)
	}
	// Layers whose rows were not permuted for rotate_half must match too.
	for _, pair := range [][2]string{
		{"blk.2.ffn_down.weight", "model.layers.2.mlp.down_proj.weight"},
		{"blk.4.attn_v.weight", "model.layers.4.self_attn.v_proj.weight"},
		{"output_norm.weight", "model.norm.weight"},
	} {
		a, as, err1 := f.Float32(pair[0])
		b, bs, err2 := st.Float32(pair[1])
		if err1 != nil || err2 != nil || !slices.Equal(as, bs) || !slices.Equal(a, b) {
			t.Errorf("%s %v != %s %v (%v, %v)", pair[0], as, pair[1], bs, err1, err2)
		}
	}
}
