package mapped

import (
	"encoding/binary"
	"math"
	"slices"
	"testing"
	"unsafe"
)

// f32Bytes encodes x after off bytes of padding, so that callers
// can place the numbers at a chosen alignment.
func f32Bytes(x []float32, off int) []byte {
	b := make([]byte, off+4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[off+4*i:], math.Float32bits(v))
	}
	return b[off:]
}

func u16Bytes(x []uint16, off int) []byte {
	b := make([]byte, off+2*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint16(b[off+2*i:], v)
	}
	return b[off:]
}

func aliases[T any](v []T, raw []byte) bool {
	return unsafe.Pointer(unsafe.SliceData(v)) == unsafe.Pointer(unsafe.SliceData(raw))
}

func TestFloat32s(t *testing.T) {
	want := []float32{1, -2.5, float32(math.Inf(1)), 3e-40, 0}
	for off := range 4 {
		raw := f32Bytes(want, off)
		got := Float32s(raw, len(want))
		if !slices.Equal(got, want) {
			t.Errorf("offset %d: got %v, want %v", off, got, want)
		}
		aligned := uintptr(unsafe.Pointer(&raw[0]))%4 == 0
		if a := aliases(got, raw); a != (aligned && littleEndian) {
			t.Errorf("offset %d: aliases = %v, want %v (aligned %v, little-endian %v)", off, a, aligned && littleEndian, aligned, littleEndian)
		}
	}
	if got := Float32s(nil, 0); got == nil || len(got) != 0 {
		t.Errorf("Float32s(nil, 0) = %#v, want empty non-nil", got)
	}
}

func TestUint16s(t *testing.T) {
	want := []uint16{0, 1, 0x3c00, 0xffff, 0x8000}
	for off := range 2 {
		raw := u16Bytes(want, off)
		got := Uint16s(raw, len(want))
		if !slices.Equal(got, want) {
			t.Errorf("offset %d: got %v, want %v", off, got, want)
		}
		aligned := uintptr(unsafe.Pointer(&raw[0]))%2 == 0
		if a := aliases(got, raw); a != (aligned && littleEndian) {
			t.Errorf("offset %d: aliases = %v, want %v", off, a, aligned && littleEndian)
		}
	}
	if got := Uint16s(nil, 0); got != nil {
		t.Errorf("Uint16s(nil, 0) = %#v, want nil", got)
	}
}

// A mapping is page-aligned, so an F32 view of its start aliases it.
func TestFloat32sAliasesMapping(t *testing.T) {
	want := []float32{0.5, 1.5, -3}
	m, err := Open(writeTemp(t, f32Bytes(want, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got := Float32s(m.Data, len(want))
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if littleEndian && !aliases(got, m.Data) {
		t.Error("view of a page-aligned mapping was copied")
	}
}
