package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"slices"

	"github.com/graft-ai/graft/engine/float16"
)

// Writer builds a GGUF v3 file in memory order: metadata in the order set,
// tensors in the order added, data aligned to 32 bytes (or to a
// general.alignment set as a uint32).
type Writer struct {
	kvs     []KV
	kvIndex map[string]int
	tensors []writerTensor
	names   map[string]bool
}

type writerTensor struct {
	info TensorInfo
	data []byte
}

// NewWriter returns an empty writer.
func NewWriter() *Writer {
	return &Writer{kvIndex: map[string]int{}, names: map[string]bool{}}
}

// Set stores a metadata value, replacing any earlier value for key in place.
// v may be any Go type that KV.Value holds (uint8 … float64, bool, string,
// Array) or a slice of one of the scalar types or of string, which becomes an
// array of that type.
func (w *Writer) Set(key string, v any) error {
	t, v, err := valueTypeOf(v)
	if err != nil {
		return fmt.Errorf("gguf: metadata %q: %w", key, err)
	}
	kv := KV{Key: key, Type: t, Value: v}
	if i, ok := w.kvIndex[key]; ok {
		w.kvs[i] = kv
		return nil
	}
	w.kvIndex[key] = len(w.kvs)
	w.kvs = append(w.kvs, kv)
	return nil
}

// SetString, SetUint32, SetFloat32 and SetStrings are Set for the commonest
// types, for call sites that cannot get the type wrong.
func (w *Writer) SetString(key, v string)           { _ = w.Set(key, v) }
func (w *Writer) SetUint32(key string, v uint32)    { _ = w.Set(key, v) }
func (w *Writer) SetFloat32(key string, v float32)  { _ = w.Set(key, v) }
func (w *Writer) SetStrings(key string, v []string) { _ = w.Set(key, v) }

func valueTypeOf(v any) (ValueType, any, error) {
	switch x := v.(type) {
	case uint8:
		return TypeUint8, x, nil
	case int8:
		return TypeInt8, x, nil
	case uint16:
		return TypeUint16, x, nil
	case int16:
		return TypeInt16, x, nil
	case uint32:
		return TypeUint32, x, nil
	case int32:
		return TypeInt32, x, nil
	case float32:
		return TypeFloat32, x, nil
	case bool:
		return TypeBool, x, nil
	case string:
		return TypeString, x, nil
	case uint64:
		return TypeUint64, x, nil
	case int64:
		return TypeInt64, x, nil
	case float64:
		return TypeFloat64, x, nil
	case Array:
		if err := checkArray(x); err != nil {
			return 0, nil, err
		}
		return TypeArray, x, nil
	}
	a, ok := arrayOf(v)
	if !ok {
		return 0, nil, fmt.Errorf("unsupported value type %T", v)
	}
	return TypeArray, a, nil
}

func arrayOf(v any) (Array, bool) {
	var e ValueType
	switch v.(type) {
	case []uint8:
		e = TypeUint8
	case []int8:
		e = TypeInt8
	case []uint16:
		e = TypeUint16
	case []int16:
		e = TypeInt16
	case []uint32:
		e = TypeUint32
	case []int32:
		e = TypeInt32
	case []float32:
		e = TypeFloat32
	case []bool:
		e = TypeBool
	case []string:
		e = TypeString
	case []uint64:
		e = TypeUint64
	case []int64:
		e = TypeInt64
	case []float64:
		e = TypeFloat64
	case []Array:
		e = TypeArray
	default:
		return Array{}, false
	}
	return Array{Elem: e, Values: v}, true
}

// checkArray makes sure an Array's Values really is the slice its Elem says.
func checkArray(a Array) error {
	b, ok := arrayOf(a.Values)
	if !ok || b.Elem != a.Elem {
		return fmt.Errorf("array of %s holds %T", a.Elem, a.Values)
	}
	if nested, ok := a.Values.([]Array); ok {
		for _, n := range nested {
			if err := checkArray(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// AddTensor encodes data (row-major, shape outermost first) as typ, one of
// F32, F16, BF16 or Q8_0, and adds it under name.
func (w *Writer) AddTensor(name string, typ Type, shape []int, data []float32) error {
	n := 1
	for _, s := range shape {
		n *= s
	}
	if n != len(data) {
		return fmt.Errorf("gguf: tensor %q: shape %v needs %d values, got %d", name, shape, n, len(data))
	}
	raw, err := encode(typ, shape, data)
	if err != nil {
		return fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	return w.AddRawTensor(name, typ, shape, raw)
}

func encode(typ Type, shape []int, data []float32) ([]byte, error) {
	switch typ {
	case TypeF32:
		raw := make([]byte, 4*len(data))
		for i, v := range data {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
		return raw, nil
	case TypeF16, TypeBF16:
		h := make([]uint16, len(data))
		if typ == TypeF16 {
			float16.F32ToF16(h, data)
		} else {
			float16.F32ToBF16(h, data)
		}
		raw := make([]byte, 2*len(h))
		for i, v := range h {
			binary.LittleEndian.PutUint16(raw[2*i:], v)
		}
		return raw, nil
	case TypeQ8_0:
		if len(shape) == 0 || shape[len(shape)-1]%Q8_0BlockSize != 0 {
			return nil, fmt.Errorf("Q8_0 needs rows of a multiple of %d values, shape is %v", Q8_0BlockSize, shape)
		}
		raw := make([]byte, len(data)/Q8_0BlockSize*Q8_0BlockBytes)
		QuantizeQ8_0(raw, data)
		return raw, nil
	}
	return nil, fmt.Errorf("cannot encode float32 as %s", typ)
}

// AddRawTensor adds already-encoded data of any known type; its length must
// match the shape (row-major, outermost first).
func (w *Writer) AddRawTensor(name string, typ Type, shape []int, raw []byte) error {
	if w.names[name] {
		return fmt.Errorf("gguf: duplicate tensor %q", name)
	}
	if len(shape) > maxDims {
		return fmt.Errorf("gguf: tensor %q: %d dimensions, at most %d", name, len(shape), maxDims)
	}
	dims := slices.Clone(shape)
	slices.Reverse(dims)
	raw64 := make([]uint64, len(dims))
	for i, d := range dims {
		if d < 0 {
			return fmt.Errorf("gguf: tensor %q: negative dimension in %v", name, shape)
		}
		raw64[i] = uint64(d)
	}
	t := TensorInfo{Name: name, Type: typ}
	if err := t.setLayout(raw64, 0); err != nil {
		return err
	}
	if t.Size != len(raw) {
		return fmt.Errorf("gguf: tensor %q: %s %v takes %d bytes, got %d", name, typ, shape, t.Size, len(raw))
	}
	w.names[name] = true
	w.tensors = append(w.tensors, writerTensor{info: t, data: raw})
	return nil
}

// WriteFile writes the file to path.
func (w *Writer) WriteFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := w.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WriteTo writes the whole file to out.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	align, err := w.alignment()
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriter(out)
	cw := &countingWriter{w: bw}
	e := &encoder{w: cw}
	e.u32(magic)
	e.u32(3)
	e.u64(uint64(len(w.tensors)))
	e.u64(uint64(len(w.kvs)))
	for _, kv := range w.kvs {
		e.str(kv.Key)
		e.u32(uint32(kv.Type))
		e.value(kv.Value)
	}
	offsets := w.layout(align)
	for i, t := range w.tensors {
		e.str(t.info.Name)
		e.u32(uint32(len(t.info.Dims)))
		for _, d := range t.info.Dims {
			e.u64(uint64(d))
		}
		e.u32(uint32(t.info.Type))
		e.u64(uint64(offsets[i]))
	}
	e.pad(align)
	for _, t := range w.tensors {
		e.bytes(t.data)
		e.pad(align)
	}
	if e.err == nil {
		e.err = bw.Flush()
	}
	return cw.n, e.err
}

func (w *Writer) alignment() (int, error) {
	i, ok := w.kvIndex[keyAlignment]
	if !ok {
		return defaultAlignment, nil
	}
	a, ok := w.kvs[i].Value.(uint32)
	if !ok || a == 0 || a&(a-1) != 0 || a > maxAlignment {
		return 0, fmt.Errorf("gguf: %s must be a uint32 power of two up to %d, got %v", keyAlignment, maxAlignment, w.kvs[i].Value)
	}
	return int(a), nil
}

func (w *Writer) layout(align int) []int {
	offsets := make([]int, len(w.tensors))
	off := 0
	for i, t := range w.tensors {
		offsets[i] = off
		off = alignUp(off+len(t.data), align)
	}
	return offsets
}
