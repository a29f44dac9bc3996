package gguf

import (
	"encoding/binary"
	"io"
	"math"
)

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// encoder writes GGUF primitives and remembers the first error, so the
// layout code reads as a straight sequence of fields.
type encoder struct {
	w   *countingWriter
	err error
	buf [8]byte
}

func (e *encoder) bytes(p []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(p)
	}
}

func (e *encoder) u8(v uint8) { e.bytes([]byte{v}) }
func (e *encoder) u16(v uint16) {
	binary.LittleEndian.PutUint16(e.buf[:], v)
	e.bytes(e.buf[:2])
}
func (e *encoder) u32(v uint32) {
	binary.LittleEndian.PutUint32(e.buf[:], v)
	e.bytes(e.buf[:4])
}
func (e *encoder) u64(v uint64) {
	binary.LittleEndian.PutUint64(e.buf[:], v)
	e.bytes(e.buf[:8])
}

func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	if e.err == nil {
		_, e.err = io.WriteString(e.w, s)
	}
}

func (e *encoder) pad(align int) {
	if n := alignUp(int(e.w.n), align) - int(e.w.n); n > 0 {
		e.bytes(make([]byte, n))
	}
}

// value writes a value already checked by valueTypeOf.
func (e *encoder) value(v any) {
	switch x := v.(type) {
	case uint8:
		e.u8(x)
	case int8:
		e.u8(uint8(x))
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case bool:
		e.u8(boolByte(x))
	case string:
		e.str(x)
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	case Array:
		e.u32(uint32(x.Elem))
		e.u64(uint64(x.Len()))
		e.elements(x.Values)
	}
}

func (e *encoder) elements(values any) {
	switch s := values.(type) {
	case []uint8:
		e.bytes(s)
	case []int8:
		each(e, s)
	case []uint16:
		each(e, s)
	case []int16:
		each(e, s)
	case []uint32:
		each(e, s)
	case []int32:
		each(e, s)
	case []float32:
		each(e, s)
	case []bool:
		each(e, s)
	case []string:
		each(e, s)
	case []uint64:
		each(e, s)
	case []int64:
		each(e, s)
	case []float64:
		each(e, s)
	case []Array:
		each(e, s)
	}
}

func each[T any](e *encoder, s []T) {
	for _, v := range s {
		e.value(v)
	}
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
