package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// decoder reads little-endian GGUF primitives from an untrusted buffer. Every
// read checks the bytes left first, so a lying header fails here rather than
// with a panic or an allocation sized by the header.
type decoder struct {
	b   []byte
	off int
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

func (d *decoder) take(n int, what string) ([]byte, error) {
	if n < 0 || n > d.remaining() {
		return nil, fmt.Errorf("%w: %s needs %d bytes at offset %d, %d left", ErrFormat, what, n, d.off, d.remaining())
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p, nil
}

func (d *decoder) u8(what string) (uint8, error) {
	p, err := d.take(1, what)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

func (d *decoder) u16(what string) (uint16, error) {
	p, err := d.take(2, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(p), nil
}

func (d *decoder) u32(what string) (uint32, error) {
	p, err := d.take(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(p), nil
}

func (d *decoder) u64(what string) (uint64, error) {
	p, err := d.take(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(p), nil
}

// count reads a u64 element count and checks that count elements of at
// least minSize bytes each could still fit in the buffer.
func (d *decoder) count(minSize int, what string) (int, error) {
	n, err := d.u64(what)
	if err != nil {
		return 0, err
	}
	if n > uint64(d.remaining()/minSize) {
		return 0, fmt.Errorf("%w: %s is %d but only %d bytes remain", ErrFormat, what, n, d.remaining())
	}
	return int(n), nil
}

func (d *decoder) str(what string) (string, error) {
	n, err := d.count(1, what+" length")
	if err != nil {
		return "", err
	}
	p, err := d.take(n, what)
	if err != nil {
		return "", err
	}
	// Copy: strings must outlive an unmapped file.
	return string(p), nil
}

// maxDepth bounds nested arrays; real files nest at most once.
const maxDepth = 8

// value reads one metadata value of type t.
func (d *decoder) value(t ValueType, depth int) (any, error) {
	switch t {
	case TypeUint8:
		return d.u8("uint8 value")
	case TypeInt8:
		v, err := d.u8("int8 value")
		return int8(v), err
	case TypeUint16:
		return d.u16("uint16 value")
	case TypeInt16:
		v, err := d.u16("int16 value")
		return int16(v), err
	case TypeUint32:
		return d.u32("uint32 value")
	case TypeInt32:
		v, err := d.u32("int32 value")
		return int32(v), err
	case TypeFloat32:
		v, err := d.u32("float32 value")
		return math.Float32frombits(v), err
	case TypeBool:
		return d.boolean()
	case TypeString:
		return d.str("string value")
	case TypeUint64:
		return d.u64("uint64 value")
	case TypeInt64:
		v, err := d.u64("int64 value")
		return int64(v), err
	case TypeFloat64:
		v, err := d.u64("float64 value")
		return math.Float64frombits(v), err
	case TypeArray:
		return d.array(depth)
	}
	return nil, fmt.Errorf("%w: unknown metadata value type %d", ErrFormat, uint32(t))
}

func (d *decoder) boolean() (bool, error) {
	v, err := d.u8("bool value")
	if err != nil {
		return false, err
	}
	if v > 1 {
		return false, fmt.Errorf("%w: bool value %d at offset %d", ErrFormat, v, d.off-1)
	}
	return v == 1, nil
}

func (d *decoder) array(depth int) (Array, error) {
	if depth >= maxDepth {
		return Array{}, fmt.Errorf("%w: arrays nested deeper than %d", ErrFormat, maxDepth)
	}
	et, err := d.u32("array element type")
	if err != nil {
		return Array{}, err
	}
	elem := ValueType(et)
	size := elem.minSize()
	if size == 0 {
		return Array{}, fmt.Errorf("%w: unknown array element type %d", ErrFormat, et)
	}
	n, err := d.count(size, "array length")
	if err != nil {
		return Array{}, err
	}
	vals, err := d.arrayValues(elem, n, depth)
	return Array{Elem: elem, Values: vals}, err
}
