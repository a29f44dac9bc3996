// Package gguf reads and writes GGUF (v2 and v3) model files, the format of
// llama.cpp: typed metadata key/values followed by aligned tensor data.
//
// Files are memory-mapped read-only. Parsing treats the file as hostile:
// every count, length, offset and size is checked against the bytes actually
// present before it is used, and violations come back as errors wrapping
// ErrFormat.
package gguf

import (
	"errors"
	"fmt"

	"github.com/graft-ai/graft/engine/mapped"
)

// ErrFormat is wrapped by every error that describes a malformed file.
var ErrFormat = errors.New("gguf: invalid file")

const (
	magic            = 0x46554747 // "GGUF" read as a little-endian uint32
	defaultAlignment = 32
	keyAlignment     = "general.alignment"
)

// File is a parsed GGUF file. Its tensor data aliases the bytes it was
// parsed from (the mapping, for Open), so it is valid until Close.
type File struct {
	Version   uint32
	Alignment int

	kvs         []KV
	kvIndex     map[string]int
	tensors     []TensorInfo
	tensorIndex map[string]int
	data        []byte // the tensor data section
	dataOffset  int    // where data starts in the file
	mapping     *mapped.File
}

// Open memory-maps the file at path and parses it.
func Open(path string) (*File, error) {
	m, err := mapped.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	f, err := Parse(m.Data)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.mapping = m
	return f, nil
}

// Close releases the mapping. Slices returned by Raw and zero-copy Float32
// calls must not be used afterwards.
func (f *File) Close() error {
	if f.mapping == nil {
		return nil
	}
	err := f.mapping.Close()
	f.mapping, f.data = nil, nil
	return err
}

// Parse parses a whole GGUF file held in data, which it keeps referencing.
func Parse(data []byte) (*File, error) {
	d := &decoder{b: data}
	f := &File{}
	if err := f.header(d); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *File) header(d *decoder) error {
	m, err := d.u32("magic")
	if err != nil {
		return err
	}
	if m != magic {
		return fmt.Errorf("%w: bad magic %#08x, want \"GGUF\"", ErrFormat, m)
	}
	if f.Version, err = d.u32("version"); err != nil {
		return err
	}
	if f.Version != 2 && f.Version != 3 {
		return fmt.Errorf("%w: unsupported version %d (want 2 or 3; a big-endian file also reads this way)", ErrFormat, f.Version)
	}
	// Smallest tensor info: name length, n_dims, type, offset.
	nTensors, err := d.count(8+4+4+8, "tensor count")
	if err != nil {
		return err
	}
	// Smallest key/value: key length, value type, one-byte value.
	nKV, err := d.count(8+4+1, "metadata count")
	if err != nil {
		return err
	}
	if err := f.readMetadata(d, nKV); err != nil {
		return err
	}
	if err := f.setAlignment(); err != nil {
		return err
	}
	if err := f.readTensorInfos(d, nTensors); err != nil {
		return err
	}
	return f.placeData(d)
}

func (f *File) readMetadata(d *decoder, n int) error {
	f.kvs = make([]KV, 0, n)
	f.kvIndex = make(map[string]int, n)
	for i := range n {
		key, err := d.str(fmt.Sprintf("metadata key %d", i))
		if err != nil {
			return err
		}
		if _, dup := f.kvIndex[key]; dup {
			return fmt.Errorf("%w: duplicate metadata key %q", ErrFormat, key)
		}
		t, err := d.u32("value type of " + key)
		if err != nil {
			return err
		}
		v, err := d.value(ValueType(t), 0)
		if err != nil {
			return fmt.Errorf("metadata %q: %w", key, err)
		}
		f.kvIndex[key] = len(f.kvs)
		f.kvs = append(f.kvs, KV{Key: key, Type: ValueType(t), Value: v})
	}
	return nil
}

// maxAlignment keeps padding arithmetic far from overflow; real files use 32.
const maxAlignment = 1 << 20

func (f *File) setAlignment() error {
	f.Alignment = defaultAlignment
	kv, ok := f.Value(keyAlignment)
	if !ok {
		return nil
	}
	a, ok := asUint(kv.Value)
	if !ok || a == 0 || a&(a-1) != 0 || a > maxAlignment {
		return fmt.Errorf("%w: %s = %v (%s), want a power of two up to %d", ErrFormat, keyAlignment, kv.Value, kv.Type, maxAlignment)
	}
	f.Alignment = int(a)
	return nil
}

// Release lets the pages of b, tensor bytes from Raw that the caller has
// copied elsewhere, leave the resident set (mapped.File.Release).
func (f *File) Release(b []byte) { f.mapping.Release(b) }
