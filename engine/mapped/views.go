package mapped

import (
	"encoding/binary"
	"math"
	"unsafe"
)

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// Float32s returns the first n little-endian float32s of raw. On a
// little-endian host with raw 4-byte aligned the result aliases raw (so it
// is read-only when raw is a mapping); otherwise it is a decoded copy.
// raw must hold at least 4*n bytes.
func Float32s(raw []byte, n int) []float32 {
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

// Uint16s is Float32s for 16-bit values (F16 and BF16 bit patterns), with
// 2-byte alignment; it returns nil when n is 0.
func Uint16s(raw []byte, n int) []uint16 {
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
