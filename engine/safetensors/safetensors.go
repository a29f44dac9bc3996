// Package safetensors reads and writes Hugging Face .safetensors files: a
// little-endian u64 header length, a JSON header naming each tensor's dtype,
// shape and byte range, then the raw tensor bytes.
//
// Files are memory-mapped read-only. The header is untrusted: its size is
// capped and every tensor's range is checked to lie in the data area, to
// match its shape, and (as the reference implementation requires) to tile
// the data area exactly, without overlaps or holes.
package safetensors

import (
	"errors"
	"fmt"

	"github.com/graft-ai/graft/engine/mapped"
)

// ErrFormat is wrapped by every error describing a malformed file.
var ErrFormat = errors.New("safetensors: invalid file")

// MaxHeaderSize caps the JSON header, as the reference implementation does.
const MaxHeaderSize = 100_000_000

// Tensor describes one tensor. Offset and Size are in bytes, relative to the
// start of the data area.
type Tensor struct {
	Name   string
	DType  DType
	Shape  []int
	Offset int
	Size   int
}

// Elements is the number of elements, the product of Shape.
func (t Tensor) Elements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// File is one parsed .safetensors file. Tensor data aliases the bytes it was
// parsed from (the mapping, for Open), so it is valid until Close.
type File struct {
	tensors  []Tensor // in data order
	index    map[string]int
	metadata map[string]string
	data     []byte // the data area
	mapping  *mapped.File
}

// Open memory-maps the file at path and parses it.
func Open(path string) (*File, error) {
	m, err := mapped.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	f, err := Parse(m.Data)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.mapping = m
	return f, nil
}

// Close releases the mapping; slices from Raw and zero-copy Float32 calls
// must not be used afterwards.
func (f *File) Close() error {
	if f.mapping == nil {
		return nil
	}
	err := f.mapping.Close()
	f.mapping, f.data = nil, nil
	return err
}

// Tensors lists the tensors in data order; the slice is shared.
func (f *File) Tensors() []Tensor { return f.tensors }

// Tensor returns the named tensor's description.
func (f *File) Tensor(name string) (Tensor, bool) {
	i, ok := f.index[name]
	if !ok {
		return Tensor{}, false
	}
	return f.tensors[i], true
}

// Metadata is the header's __metadata__ map (nil when absent); it is shared.
func (f *File) Metadata() map[string]string { return f.metadata }
