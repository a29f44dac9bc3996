package safetensors

import (
	"fmt"
	"slices"
	"testing"
	"unsafe"

	"github.com/graft-ai/graft/internal/testmodels"
)

func TestStoriesModel(t *testing.T) {
	path := testmodels.Path(t, "stories260K", "hf", "model.safetensors")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Metadata()["format"] != "pt" {
		t.Errorf("metadata %v, want format pt", f.Metadata())
	}
	// 1 embedding + 1 final norm + 9 per layer; tied, so no lm_head.
	if n := len(f.Tensors()); n != 2+9*5 {
		t.Errorf("%d tensors, want %d", n, 2+9*5)
	}
	want := map[string][]int{
		"model.embed_tokens.weight":                      {512, 64},
		"model.norm.weight":                              {64},
		"model.layers.0.input_layernorm.weight":          {64},
		"model.layers.4.self_attn.q_proj.weight":         {64, 64},
		"model.layers.4.self_attn.k_proj.weight":         {32, 64},
		"model.layers.2.self_attn.v_proj.weight":         {32, 64},
		"model.layers.1.self_attn.o_proj.weight":         {64, 64},
		"model.layers.3.mlp.gate_proj.weight":            {172, 64},
		"model.layers.3.mlp.up_proj.weight":              {172, 64},
		"model.layers.0.mlp.down_proj.weight":            {64, 172},
		"model.layers.0.post_attention_layernorm.weight": {64},
	}
	for name, shape := range want {
		ti, ok := f.Tensor(name)
		if !ok || ti.DType != F32 || !slices.Equal(ti.Shape, shape) {
			t.Errorf("%s: %+v (found %v), want F32 %v", name, ti, ok, shape)
		}
	}
	if _, ok := f.Tensor("lm_head.weight"); ok {
		t.Error("lm_head.weight present in a tied model")
	}
	emb, shape, err := f.Float32("model.embed_tokens.weight")
	if err != nil || !slices.Equal(shape, []int{512, 64}) {
		t.Fatalf("embed_tokens: %v %v", shape, err)
	}
	raw, _, _ := f.Raw("model.embed_tokens.weight")
	if unsafe.Pointer(&emb[0]) != unsafe.Pointer(&raw[0]) {
		t.Error("F32 tensor was copied; want a view of the mapping")
	}
	norm, _, _ := f.Float32("model.norm.weight")
	if slices.Max(norm) == 0 && slices.Min(norm) == 0 {
		t.Error("final norm weights are all zero")
	}
}

func TestStoriesAdapter(t *testing.T) {
	m, err := Open(adapterPath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if n := len(m.Tensors()); n != 5*2*2 {
		t.Errorf("%d tensors, want 20 (5 layers x q,v x A,B)", n)
	}
	for layer := range 5 {
		for _, mod := range []struct {
			name string
			out  int
		}{{"q_proj", 64}, {"v_proj", 32}} {
			prefix := fmt.Sprintf("base_model.model.model.layers.%d.self_attn.%s.", layer, mod.name)
			a, ok := m.Tensor(prefix + "lora_A.weight")
			if !ok || !slices.Equal(a.Shape, []int{4, 64}) || a.DType != F32 {
				t.Errorf("%slora_A: %+v", prefix, a)
			}
			b, ok := m.Tensor(prefix + "lora_B.weight")
			if !ok || !slices.Equal(b.Shape, []int{mod.out, 4}) || b.DType != F32 {
				t.Errorf("%slora_B: %+v", prefix, b)
			}
		}
	}
	if _, ok := m.Tensor("base_model.model.model.layers.0.mlp.up_proj.lora_A.weight"); ok {
		t.Error("qv adapter has an MLP tensor")
	}
}

func TestOpenModelStories(t *testing.T) {
	dir := testmodels.Path(t, "stories260K", "hf")
	m, err := OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if n := len(m.Names()); n != 47 {
		t.Errorf("%d names, want 47", n)
	}
	if _, _, err := m.Float32("model.norm.weight"); err != nil {
		t.Error(err)
	}
}

func storiesPath(t *testing.T) string {
	return testmodels.Path(t, "stories260K", "hf", "model.safetensors")
}

func adapterPath(t *testing.T) string {
	return testmodels.Path(t, "stories260K", "adapters", "qv-r4", "adapter_model.safetensors")
}
