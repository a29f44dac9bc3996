package gguf

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// maxDims is GGML_MAX_DIMS.
const maxDims = 4

// TensorInfo describes one tensor.
type TensorInfo struct {
	Name string
	Type Type
	// Dims are in GGUF/ggml order: Dims[0] (ne[0]) varies fastest.
	Dims []int
	// Offset is relative to the start of the data section; Size is in bytes.
	Offset int
	Size   int
}

// Shape is Dims reversed: the row-major shape, outermost first, as numpy
// and safetensors write it.
func (t TensorInfo) Shape() []int {
	s := slices.Clone(t.Dims)
	slices.Reverse(s)
	return s
}

// Elements is the number of elements (the product of Dims).
func (t TensorInfo) Elements() int {
	n := 1
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Tensors lists the tensors in file order; the slice is shared.
func (f *File) Tensors() []TensorInfo { return f.tensors }

// Tensor returns the named tensor's description.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.tensorIndex[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.tensors[i], true
}

// DataOffset is the file offset of the tensor data section.
func (f *File) DataOffset() int { return f.dataOffset }

func (f *File) readTensorInfos(d *decoder, n int) error {
	f.tensors = make([]TensorInfo, 0, n)
	f.tensorIndex = make(map[string]int, n)
	for i := range n {
		t, err := f.readTensorInfo(d, i)
		if err != nil {
			return err
		}
		if _, dup := f.tensorIndex[t.Name]; dup {
			return fmt.Errorf("%w: duplicate tensor name %q", ErrFormat, t.Name)
		}
		f.tensorIndex[t.Name] = len(f.tensors)
		f.tensors = append(f.tensors, t)
	}
	return nil
}

func (f *File) readTensorInfo(d *decoder, i int) (TensorInfo, error) {
	var t TensorInfo
	var err error
	if t.Name, err = d.str(fmt.Sprintf("tensor %d name", i)); err != nil {
		return t, err
	}
	nd, err := d.u32("dimension count of " + t.Name)
	if err != nil {
		return t, err
	}
	if nd > maxDims {
		return t, fmt.Errorf("%w: tensor %q has %d dimensions, at most %d allowed", ErrFormat, t.Name, nd, maxDims)
	}
	raw := make([]uint64, nd)
	for j := range raw {
		if raw[j], err = d.u64("dimension of " + t.Name); err != nil {
			return t, err
		}
	}
	typ, err := d.u32("type of " + t.Name)
	if err != nil {
		return t, err
	}
	t.Type = Type(typ)
	off, err := d.u64("offset of " + t.Name)
	if err != nil {
		return t, err
	}
	if err := t.setLayout(raw, off); err != nil {
		return t, err
	}
	return t, nil
}

// setLayout validates dims, type and offset and fills Dims, Offset and Size.
func (t *TensorInfo) setLayout(raw []uint64, off uint64) error {
	tr, ok := traits[t.Type]
	if !ok {
		return fmt.Errorf("%w: tensor %q has unknown type %d", ErrFormat, t.Name, uint32(t.Type))
	}
	elems := uint64(1)
	for _, v := range raw {
		hi, lo := bits.Mul64(elems, max(v, 1))
		if hi != 0 || lo > math.MaxInt64 {
			return fmt.Errorf("%w: tensor %q dimensions %v overflow", ErrFormat, t.Name, raw)
		}
		elems = lo
	}
	row := uint64(1) // a tensor without dimensions is one element
	if len(raw) > 0 {
		row = raw[0]
	}
	if row%tr.blockSize != 0 {
		return fmt.Errorf("%w: tensor %q row length %d is not a multiple of the %s block size %d", ErrFormat, t.Name, row, t.Type, tr.blockSize)
	}
	if slices.Contains(raw, 0) {
		elems = 0
	}
	hi, size := bits.Mul64(elems/tr.blockSize, tr.typeSize)
	if hi != 0 || size > math.MaxInt64 || off > math.MaxInt64 || int64(off)+int64(size) < 0 {
		return fmt.Errorf("%w: tensor %q size or offset overflows", ErrFormat, t.Name)
	}
	t.Dims = make([]int, len(raw))
	for j, v := range raw {
		t.Dims[j] = int(v)
	}
	t.Offset, t.Size = int(off), int(size)
	return nil
}

// placeData finds the aligned data section and checks that every tensor lies
// inside it, aligned, without overlapping another.
func (f *File) placeData(d *decoder) error {
	start := alignUp(d.off, f.Alignment)
	f.dataOffset = start
	if start <= len(d.b) {
		f.data = d.b[start:]
	}
	for _, t := range f.tensors {
		if t.Offset%f.Alignment != 0 {
			return fmt.Errorf("%w: tensor %q offset %d is not a multiple of the alignment %d", ErrFormat, t.Name, t.Offset, f.Alignment)
		}
		if t.Offset > len(f.data) || t.Size > len(f.data)-t.Offset {
			return fmt.Errorf("%w: tensor %q bytes [%d, %d) run past the data section (%d bytes)", ErrFormat, t.Name, t.Offset, t.Offset+t.Size, len(f.data))
		}
	}
	return checkOverlap(f.tensors)
}

func checkOverlap(ts []TensorInfo) error {
	order := make([]int, len(ts))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(ts[a].Offset, ts[b].Offset) })
	// Compare with the furthest-reaching tensor so far, so an empty tensor
	// between two overlapping ones cannot hide the overlap.
	reach := -1
	for _, i := range order {
		cur := ts[i]
		if cur.Size == 0 {
			continue
		}
		if reach >= 0 && cur.Offset < ts[reach].Offset+ts[reach].Size {
			return fmt.Errorf("%w: tensors %q and %q overlap", ErrFormat, ts[reach].Name, cur.Name)
		}
		if reach < 0 || cur.Offset+cur.Size > ts[reach].Offset+ts[reach].Size {
			reach = i
		}
	}
	return nil
}

func alignUp(n, a int) int { return (n + a - 1) / a * a }
