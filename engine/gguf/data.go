package gguf

import (
	"fmt"

	"github.com/graft-ai/graft/engine/float16"
	"github.com/graft-ai/graft/engine/mapped"
)

// Raw returns the named tensor's bytes as stored (aliasing the file, read
// only, valid until Close), for kernels that consume Q8_0 or BF16 directly.
func (f *File) Raw(name string) ([]byte, TensorInfo, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, t, fmt.Errorf("gguf: no tensor %q", name)
	}
	if f.data == nil && t.Size > 0 {
		return nil, t, fmt.Errorf("gguf: tensor %q: file is closed", name)
	}
	return f.data[t.Offset : t.Offset+t.Size : t.Offset+t.Size], t, nil
}

// Float32 returns the named tensor as float32s with its row-major shape
// (outermost first). F32 data is returned without copying when it is
// suitably aligned: that slice aliases the read-only mapping, must not be
// written, and is valid until Close. F16, BF16 and the quantized types are
// decoded into a new slice.
func (f *File) Float32(name string) ([]float32, []int, error) {
	raw, t, err := f.Raw(name)
	if err != nil {
		return nil, nil, err
	}
	n := t.Elements()
	switch t.Type {
	case TypeF32:
		return mapped.Float32s(raw, n), t.Shape(), nil
	case TypeF16, TypeBF16:
		out := make([]float32, n)
		halves := mapped.Uint16s(raw, n)
		if t.Type == TypeF16 {
			float16.F16ToF32(out, halves)
		} else {
			float16.BF16ToF32(out, halves)
		}
		return out, t.Shape(), nil
	}
	if t.Type.Quantized() {
		out := make([]float32, n)
		if err := Dequantize(t.Type, out, raw); err != nil {
			return nil, nil, fmt.Errorf("gguf: tensor %q: %w", name, err)
		}
		return out, t.Shape(), nil
	}
	return nil, nil, fmt.Errorf("gguf: tensor %q has type %s, which is not supported (neither computed with nor convertible to float32)", name, t.Type)
}
