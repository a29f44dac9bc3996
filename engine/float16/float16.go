// Package float16 converts IEEE 754 half precision (F16) and bfloat16 (BF16)
// values to and from float32, bit-exactly, as model files store them.
package float16

import "math"

// F16ToFloat32 widens one IEEE half to float32; every half value, including
// subnormals, infinities and NaN payloads, has an exact float32 image.
func F16ToFloat32(h uint16) float32 {
	return math.Float32frombits(f16Bits(h))
}

func f16Bits(h uint16) uint32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // inf or NaN: keep the payload, widen it.
		return sign | 0x7f800000 | man<<13
	case exp != 0:
		return sign | (exp+112)<<23 | man<<13
	case man == 0:
		return sign
	}
	// Subnormal half: normalise so the leading one becomes implicit.
	e := uint32(113)
	for man&0x400 == 0 {
		man <<= 1
		e--
	}
	return sign | e<<23 | (man&0x3ff)<<13
}

// Float32ToF16 narrows a float32 to the nearest IEEE half, ties to even, with
// overflow to infinity, gradual underflow to subnormals, and NaN kept a NaN.
func Float32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	man := b & 0x7fffff
	if exp == 0xff {
		if man == 0 {
			return sign | 0x7c00
		}
		// Keep the top payload bits and force quiet so it stays a NaN.
		return sign | 0x7e00 | uint16(man>>13)
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign // below half the smallest subnormal: rounds to zero
		}
		man |= 0x800000
		shift := uint32(14 - e)
		return sign | uint16(roundShift(man, shift))
	}
	// A carry out of the mantissa correctly bumps the exponent (even to inf).
	return sign | uint16(uint32(e)<<10+roundShift(man, 13))
}

// roundShift returns v>>shift rounded to nearest, ties to even.
func roundShift(v, shift uint32) uint32 {
	half := uint32(1) << (shift - 1)
	rem := v & (1<<shift - 1)
	q := v >> shift
	if rem > half || (rem == half && q&1 == 1) {
		q++
	}
	return q
}

// BF16ToFloat32 widens a bfloat16: it is the top half of a float32.
func BF16ToFloat32(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}

// Float32ToBF16 narrows a float32 to bfloat16, rounding to nearest even, and
// keeps NaN a (quiet) NaN rather than letting rounding turn it into infinity.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}
