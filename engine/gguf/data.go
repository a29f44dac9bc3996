package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/graft-ai/graft/engine/float16"
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
// written, and is valid until Close. F16, BF16 and Q8_0 are decoded into a
// new slice.
func (f *File) Float32(name string) ([]float32, []int, error) {
	raw, t, err := f.Raw(name)
	if err != nil {
		return nil, nil, err
	}
	n := t.Elements()
	switch t.Type {
	case TypeF32:
		return f32s(raw, n), t.Shape(), nil
	case TypeF16, TypeBF16:
		out := make([]float32, n)
		halves := u16s(raw, n)
		if t.Type == TypeF16 {
			float16.F16ToF32(out, halves)
		} else {
			float16.BF16ToF32(out, halves)
		}
		return out, t.Shape(), nil
	case TypeQ8_0:
		out := make([]float32, n)
		DequantizeQ8_0(out, raw)
		return out, t.Shape(), nil
	}
	return nil, nil, fmt.Errorf("gguf: tensor %q: cannot convert %s to float32", name, t.Type)
}

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// f32s views raw as float32s when the host is little-endian and raw is
// 4-byte aligned, and decodes a copy otherwise.
func f32s(raw []byte, n int) []float32 {
	if n == 0 {
		return []float32{}
	}
	if littleEndian && uintptr(unsafe.Pointer(&raw[0]))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&raw[0])), n)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}

// u16s is f32s for 16-bit values; the result is only read.
func u16s(raw []byte, n int) []uint16 {
	if n == 0 {
		return nil
	}
	if littleEndian && uintptr(unsafe.Pointer(&raw[0]))%2 == 0 {
		return unsafe.Slice((*uint16)(unsafe.Pointer(&raw[0])), n)
	}
	out := make([]uint16, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	return out
}
