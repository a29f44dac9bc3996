package model

import (
	"path/filepath"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/gguf"
	"github.com/graft-ai/graft/engine/safetensors"
)

type hfTensors struct{ m *safetensors.Model }

func (h hfTensors) Float32(name string) ([]float32, []int, error) { return h.m.Float32(name) }
func (h hfTensors) Has(name string) bool                          { _, ok := h.m.Tensor(name); return ok }

// LoadHF builds the model from a Hugging Face directory (config.json and
// model.safetensors or a sharded index). The caller keeps st open while the model
// is used: F32 weights may alias its memory maps.
func LoadHF(dir string, st *safetensors.Model, b compute.Backend) (*Model, error) {
	return LoadHFWith(dir, st, b, LoadOptions{})
}

// LoadHFWith is LoadHF with options (e.g. quantizing on load).
func LoadHFWith(dir string, st *safetensors.Model, b compute.Backend, o LoadOptions) (*Model, error) {
	c, err := ReadHFConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	return load(c, hfTensors{st}, hfNames, b, o)
}

func (h hfTensors) Stored(name string) (gguf.Type, []byte, []int, bool) {
	raw, t, err := h.m.Raw(name)
	if err != nil {
		return 0, nil, nil, false
	}
	switch t.DType {
	case safetensors.BF16:
		return gguf.TypeBF16, raw, t.Shape, true
	case safetensors.F16:
		return gguf.TypeF16, raw, t.Shape, true
	}
	return 0, nil, nil, false
}
