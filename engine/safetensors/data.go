package safetensors

import (
	"fmt"

	"github.com/graft-ai/graft/engine/float16"
	"github.com/graft-ai/graft/engine/mapped"
)

// Raw returns the named tensor's bytes as stored (aliasing the file, read
// only, valid until Close).
func (f *File) Raw(name string) ([]byte, Tensor, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, t, fmt.Errorf("safetensors: no tensor %q", name)
	}
	if f.data == nil && t.Size > 0 {
		return nil, t, fmt.Errorf("safetensors: tensor %q: file is closed", name)
	}
	end := t.Offset + t.Size
	return f.data[t.Offset:end:end], t, nil
}

// Float32 returns the named tensor as float32s with its shape. F32 data
// comes back without copying when it is 4-byte aligned in memory (always, for
// files the reference writer or Write produced): that slice aliases the
// read-only mapping, must not be written, and is valid until Close. F16 and
// BF16 are converted into a new slice; other dtypes are an error.
func (f *File) Float32(name string) ([]float32, []int, error) {
	raw, t, err := f.Raw(name)
	if err != nil {
		return nil, nil, err
	}
	v, err := toFloat32(raw, t)
	if err != nil {
		return nil, nil, err
	}
	return v, t.Shape, nil
}

func toFloat32(raw []byte, t Tensor) ([]float32, error) {
	n := t.Elements()
	switch t.DType {
	case F32:
		return mapped.Float32s(raw, n), nil
	case F16, BF16:
		out := make([]float32, n)
		halves := mapped.Uint16s(raw, n)
		if t.DType == F16 {
			float16.F16ToF32(out, halves)
		} else {
			float16.BF16ToF32(out, halves)
		}
		return out, nil
	}
	return nil, fmt.Errorf("safetensors: tensor %q has dtype %s; only F32, F16 and BF16 convert to float32", t.Name, t.DType)
}
