package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

const metadataKey = "__metadata__"

type headerEntry struct {
	DType       DType    `json:"dtype"`
	Shape       []uint64 `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

// Parse parses a whole .safetensors file held in data, which it keeps
// referencing.
func Parse(data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("%w: %d bytes, too short for the header length", ErrFormat, len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("%w: header of %d bytes exceeds the %d-byte limit", ErrFormat, n, MaxHeaderSize)
	}
	if n > uint64(len(data)-8) {
		return nil, fmt.Errorf("%w: header of %d bytes but only %d follow", ErrFormat, n, len(data)-8)
	}
	header := data[8 : 8+n]
	if !bytes.HasPrefix(header, []byte("{")) {
		return nil, fmt.Errorf("%w: header does not start with '{'", ErrFormat)
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(header, &entries); err != nil {
		return nil, fmt.Errorf("%w: header JSON: %v", ErrFormat, err)
	}
	f := &File{data: data[8+n:]}
	if err := f.readEntries(entries); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *File) readEntries(entries map[string]json.RawMessage) error {
	if raw, ok := entries[metadataKey]; ok {
		if err := json.Unmarshal(raw, &f.metadata); err != nil {
			return fmt.Errorf("%w: %s must map strings to strings: %v", ErrFormat, metadataKey, err)
		}
		delete(entries, metadataKey)
	}
	f.tensors = make([]Tensor, 0, len(entries))
	for name, raw := range entries {
		t, err := parseEntry(name, raw)
		if err != nil {
			return err
		}
		f.tensors = append(f.tensors, t)
	}
	// Data order, ties (empty tensors) by name, so listing is deterministic.
	slices.SortFunc(f.tensors, func(a, b Tensor) int {
		return cmp.Or(cmp.Compare(a.Offset, b.Offset), cmp.Compare(a.Offset+a.Size, b.Offset+b.Size), cmp.Compare(a.Name, b.Name))
	})
	if err := checkTiling(f.tensors, len(f.data)); err != nil {
		return err
	}
	f.index = make(map[string]int, len(f.tensors))
	for i, t := range f.tensors {
		f.index[t.Name] = i
	}
	return nil
}

func parseEntry(name string, raw json.RawMessage) (Tensor, error) {
	var e headerEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return Tensor{}, fmt.Errorf("%w: tensor %q: %v", ErrFormat, name, err)
	}
	size := e.DType.Size()
	if size == 0 {
		return Tensor{}, fmt.Errorf("%w: tensor %q has unsupported dtype %q", ErrFormat, name, e.DType)
	}
	if e.Shape == nil || len(e.DataOffsets) != 2 {
		return Tensor{}, fmt.Errorf("%w: tensor %q needs a shape and two data_offsets", ErrFormat, name)
	}
	t := Tensor{Name: name, DType: e.DType, Shape: make([]int, len(e.Shape))}
	elems := uint64(1)
	for i, d := range e.Shape {
		hi, lo := bits.Mul64(elems, max(d, 1))
		if hi != 0 || lo > math.MaxInt64 {
			return Tensor{}, fmt.Errorf("%w: tensor %q shape %v overflows", ErrFormat, name, e.Shape)
		}
		elems = lo
		t.Shape[i] = int(d)
	}
	if slices.Contains(e.Shape, 0) {
		elems = 0
	}
	hi, nbytes := bits.Mul64(elems, uint64(size))
	begin, end := e.DataOffsets[0], e.DataOffsets[1]
	if begin > end || end > math.MaxInt64 {
		return Tensor{}, fmt.Errorf("%w: tensor %q has data_offsets [%d, %d]", ErrFormat, name, begin, end)
	}
	if hi != 0 || nbytes != end-begin {
		return Tensor{}, fmt.Errorf("%w: tensor %q: %s %v needs %d bytes, data_offsets give %d", ErrFormat, name, e.DType, e.Shape, nbytes, end-begin)
	}
	t.Offset, t.Size = int(begin), int(end-begin)
	return t, nil
}

// checkTiling requires the sorted tensors to cover [0, dataLen) exactly:
// no overlap, no gap, nothing past the end and no trailing bytes.
func checkTiling(ts []Tensor, dataLen int) error {
	pos := 0
	for _, t := range ts {
		if t.Offset < pos {
			return fmt.Errorf("%w: tensor %q at [%d, %d) overlaps the previous tensor ending at %d", ErrFormat, t.Name, t.Offset, t.Offset+t.Size, pos)
		}
		if t.Offset > pos {
			return fmt.Errorf("%w: %d unused bytes before tensor %q", ErrFormat, t.Offset-pos, t.Name)
		}
		if t.Size > dataLen-pos {
			return fmt.Errorf("%w: tensor %q at [%d, %d) runs past the data area (%d bytes)", ErrFormat, t.Name, t.Offset, t.Offset+t.Size, dataLen)
		}
		pos += t.Size
	}
	if pos != dataLen {
		return fmt.Errorf("%w: data area has %d bytes, tensors cover %d", ErrFormat, dataLen, pos)
	}
	return nil
}
