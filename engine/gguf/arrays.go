package gguf

import (
	"encoding/binary"
	"math"
)

// arrayValues reads n elements of type elem into a typed Go slice. n has
// already been checked against the bytes left, so the make calls are bounded
// by the input size.
func (d *decoder) arrayValues(elem ValueType, n, depth int) (any, error) {
	switch elem {
	case TypeUint8:
		p, err := d.take(n, "uint8 array")
		return append([]uint8(nil), p...), err
	case TypeInt8:
		p, err := d.take(n, "int8 array")
		return fixed(p, 1, func(b []byte) int8 { return int8(b[0]) }), err
	case TypeUint16:
		p, err := d.take(2*n, "uint16 array")
		return fixed(p, 2, binary.LittleEndian.Uint16), err
	case TypeInt16:
		p, err := d.take(2*n, "int16 array")
		return fixed(p, 2, func(b []byte) int16 { return int16(binary.LittleEndian.Uint16(b)) }), err
	case TypeUint32:
		p, err := d.take(4*n, "uint32 array")
		return fixed(p, 4, binary.LittleEndian.Uint32), err
	case TypeInt32:
		p, err := d.take(4*n, "int32 array")
		return fixed(p, 4, func(b []byte) int32 { return int32(binary.LittleEndian.Uint32(b)) }), err
	case TypeFloat32:
		p, err := d.take(4*n, "float32 array")
		return fixed(p, 4, func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }), err
	case TypeUint64:
		p, err := d.take(8*n, "uint64 array")
		return fixed(p, 8, binary.LittleEndian.Uint64), err
	case TypeInt64:
		p, err := d.take(8*n, "int64 array")
		return fixed(p, 8, func(b []byte) int64 { return int64(binary.LittleEndian.Uint64(b)) }), err
	case TypeFloat64:
		p, err := d.take(8*n, "float64 array")
		return fixed(p, 8, func(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) }), err
	}
	return d.variableValues(elem, n, depth)
}

// fixed decodes a run of fixed-size elements; p's length was checked by take.
func fixed[T any](p []byte, size int, conv func([]byte) T) []T {
	out := make([]T, len(p)/size)
	for i := range out {
		out[i] = conv(p[i*size:])
	}
	return out
}

// variableValues reads bools, strings and nested arrays one by one.
func (d *decoder) variableValues(elem ValueType, n, depth int) (any, error) {
	switch elem {
	case TypeBool:
		out := make([]bool, n)
		for i := range out {
			v, err := d.boolean()
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case TypeString:
		out := make([]string, n)
		for i := range out {
			s, err := d.str("string array element")
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	}
	out := make([]Array, n)
	for i := range out {
		a, err := d.array(depth + 1)
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}
