package gguf

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/graft-ai/graft/engine/float16"
)

// The dequantizers below follow ggml's dequantize_row_* (ggml-quants.c)
// operation for operation, in float32 and with each product rounded before
// the following subtraction or addition (ggml-base is built without FMA
// contraction), so that they reproduce its output bit for bit. NaN and Inf
// scales propagate exactly as they do in ggml; CheckScales is the load-time
// guard that rejects them, like ggml_validate_row_data.

// Quantized reports whether t is a block-quantized type that Dequantize
// decodes.
func (t Type) Quantized() bool { _, ok := dequantizers[t]; return ok }

var dequantizers = map[Type]func(y []float32, b []byte){
	TypeQ4_0: dequantQ4_0, TypeQ4_1: dequantQ4_1, TypeQ5_0: dequantQ5_0,
	TypeQ5_1: dequantQ5_1, TypeQ8_0: dequantQ8_0, TypeQ2_K: dequantQ2_K,
	TypeQ3_K: dequantQ3_K, TypeQ4_K: dequantQ4_K, TypeQ5_K: dequantQ5_K,
	TypeQ6_K: dequantQ6_K,
}

// Dequantize decodes len(dst) values (a multiple of t's block size) of type
// t from src. It supports the Quantized types plus F32, F16 and BF16.
func Dequantize(t Type, dst []float32, src []byte) error {
	bs, bb := t.BlockSize(), t.BlockBytes()
	if bs == 0 || len(dst)%bs != 0 {
		return fmt.Errorf("gguf: cannot dequantize %d values of %s", len(dst), t)
	}
	nb := len(dst) / bs
	if len(src) < nb*bb {
		return fmt.Errorf("gguf: %d bytes hold fewer than %d %s blocks", len(src), nb, t)
	}
	switch t {
	case TypeF32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
		return nil
	case TypeF16, TypeBF16:
		h := make([]uint16, len(dst))
		for i := range h {
			h[i] = binary.LittleEndian.Uint16(src[2*i:])
		}
		if t == TypeF16 {
			float16.F16ToF32(dst, h)
		} else {
			float16.BF16ToF32(dst, h)
		}
		return nil
	}
	f, ok := dequantizers[t]
	if !ok {
		return fmt.Errorf("gguf: cannot dequantize %s", t)
	}
	for i := range nb {
		f(dst[i*bs:(i+1)*bs], src[i*bb:(i+1)*bb])
	}
	return nil
}

func half(b []byte) float32 { return float16.F16ToFloat32(binary.LittleEndian.Uint16(b)) }

func dequantQ4_0(y []float32, b []byte) {
	d, qs := half(b), b[2:18]
	for j := range 16 {
		y[j] = float32(int(qs[j]&0xf)-8) * d
		y[j+16] = float32(int(qs[j]>>4)-8) * d
	}
}

func dequantQ4_1(y []float32, b []byte) {
	d, m, qs := half(b), half(b[2:]), b[4:20]
	for j := range 16 {
		y[j] = float32(float32(qs[j]&0xf)*d) + m
		y[j+16] = float32(float32(qs[j]>>4)*d) + m
	}
}

func dequantQ5_0(y []float32, b []byte) {
	d, qh, qs := half(b), binary.LittleEndian.Uint32(b[2:]), b[6:22]
	for j := range 16 {
		h0 := byte(qh>>j<<4) & 0x10
		h1 := byte(qh>>(j+12)) & 0x10
		y[j] = float32(int(qs[j]&0xf|h0)-16) * d
		y[j+16] = float32(int(qs[j]>>4|h1)-16) * d
	}
}

func dequantQ5_1(y []float32, b []byte) {
	d, m, qh, qs := half(b), half(b[2:]), binary.LittleEndian.Uint32(b[4:]), b[8:24]
	for j := range 16 {
		h0 := byte(qh>>j<<4) & 0x10
		h1 := byte(qh>>(j+12)) & 0x10
		y[j] = float32(float32(qs[j]&0xf|h0)*d) + m
		y[j+16] = float32(float32(qs[j]>>4|h1)*d) + m
	}
}

func dequantQ8_0(y []float32, b []byte) {
	d := half(b)
	for j := range 32 {
		y[j] = float32(int8(b[2+j])) * d
	}
}

// Q2_K: scales[16] (low nibble scale, high nibble min), qs[64], d, dmin.
func dequantQ2_K(y []float32, b []byte) {
	sc, q, d, dmin := b[:16], b[16:80], half(b[80:]), half(b[82:])
	is := 0
	for n := 0; n < qkK; n += 128 {
		for shift := 0; shift < 8; shift += 2 {
			for half := range 2 {
				s := sc[is]
				is++
				dl, ml := d*float32(s&0xf), dmin*float32(s>>4)
				for l := range 16 {
					y[l] = float32(dl*float32((q[l+16*half]>>shift)&3)) - ml
				}
				y = y[16:]
			}
		}
		q = q[32:]
	}
}

// Q3_K: hmask[32], qs[64], scales[12] (sixteen 6-bit scales), d.
func dequantQ3_K(y []float32, b []byte) {
	hm, q, d := b[:32], b[32:96], half(b[108:])
	scales := q3kScales(b[96:108])
	is := 0
	m := byte(1)
	for n := 0; n < qkK; n += 128 {
		for shift := 0; shift < 8; shift += 2 {
			for half := range 2 {
				dl := d * float32(int(scales[is])-32)
				is++
				for l := range 16 {
					v := int((q[l+16*half] >> shift) & 3)
					if hm[l+16*half]&m == 0 {
						v -= 4
					}
					y[l] = dl * float32(v)
				}
				y = y[16:]
			}
			m <<= 1
		}
		q = q[32:]
	}
}

// q3kScales unpacks Q3_K's twelve scale bytes into sixteen 6-bit values
// (still offset by 32), as ggml's kmask shuffle does.
func q3kScales(s []byte) [16]int8 {
	const kmask1, kmask2 = 0x03030303, 0x0f0f0f0f
	a0, a1, tmp := binary.LittleEndian.Uint32(s), binary.LittleEndian.Uint32(s[4:]), binary.LittleEndian.Uint32(s[8:])
	aux := [4]uint32{
		a0&kmask2 | (tmp>>0&kmask1)<<4,
		a1&kmask2 | (tmp>>2&kmask1)<<4,
		a0>>4&kmask2 | (tmp>>4&kmask1)<<4,
		a1>>4&kmask2 | (tmp>>6&kmask1)<<4,
	}
	var out [16]int8
	for i, v := range aux {
		for k := range 4 {
			out[4*i+k] = int8(v >> (8 * k))
		}
	}
	return out
}

// scaleMinK4 is ggml's get_scale_min_k4: the j-th 6-bit scale and min of a
// Q4_K or Q5_K block.
func scaleMinK4(j int, q []byte) (sc, m byte) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// Q4_K: d, dmin, scales[12], qs[128].
func dequantQ4_K(y []float32, b []byte) {
	d, dmin, scales, q := half(b), half(b[2:]), b[4:16], b[16:144]
	for is := 0; is < 8; is += 2 {
		sc, m := scaleMinK4(is, scales)
		d1, m1 := d*float32(sc), dmin*float32(m)
		sc, m = scaleMinK4(is+1, scales)
		d2, m2 := d*float32(sc), dmin*float32(m)
		for l := range 32 {
			y[l] = float32(d1*float32(q[l]&0xf)) - m1
			y[l+32] = float32(d2*float32(q[l]>>4)) - m2
		}
		y, q = y[64:], q[32:]
	}
}

// Q5_K: d, dmin, scales[12], qh[32], qs[128].
func dequantQ5_K(y []float32, b []byte) {
	d, dmin, scales, qh, q := half(b), half(b[2:]), b[4:16], b[16:48], b[48:176]
	u1, u2 := byte(1), byte(2)
	for is := 0; is < 8; is += 2 {
		sc, m := scaleMinK4(is, scales)
		d1, m1 := d*float32(sc), dmin*float32(m)
		sc, m = scaleMinK4(is+1, scales)
		d2, m2 := d*float32(sc), dmin*float32(m)
		for l := range 32 {
			lo, hi := q[l]&0xf, q[l]>>4
			if qh[l]&u1 != 0 {
				lo += 16
			}
			if qh[l]&u2 != 0 {
				hi += 16
			}
			y[l] = float32(d1*float32(lo)) - m1
			y[l+32] = float32(d2*float32(hi)) - m2
		}
		y, q = y[64:], q[32:]
		u1, u2 = u1<<2, u2<<2
	}
}

// Q6_K: ql[128], qh[64], scales[16] (int8), d.
func dequantQ6_K(y []float32, b []byte) {
	ql, qh, sc, d := b[:128], b[128:192], b[192:208], half(b[208:])
	for n := 0; n < qkK; n += 128 {
		for l := range 32 {
			is := l / 16
			q1 := int(ql[l]&0xf|(qh[l]>>0&3)<<4) - 32
			q2 := int(ql[l+32]&0xf|(qh[l]>>2&3)<<4) - 32
			q3 := int(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
			q4 := int(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
			y[l] = d * float32(int8(sc[is])) * float32(q1)
			y[l+32] = d * float32(int8(sc[is+2])) * float32(q2)
			y[l+64] = d * float32(int8(sc[is+4])) * float32(q3)
			y[l+96] = d * float32(int8(sc[is+6])) * float32(q4)
		}
		y, ql, qh, sc = y[128:], ql[64:], qh[32:], sc[8:]
	}
}

// scaleOffsets lists, per quantized type, the byte offsets of a block's F16
// scales: the values ggml_validate_row_data checks.
var scaleOffsets = map[Type][]int{
	TypeQ4_0: {0}, TypeQ4_1: {0, 2}, TypeQ5_0: {0}, TypeQ5_1: {0, 2}, TypeQ8_0: {0},
	TypeQ2_K: {80, 82}, TypeQ3_K: {108}, TypeQ4_K: {0, 2}, TypeQ5_K: {0, 2}, TypeQ6_K: {208},
}

// CheckScales rejects a tensor whose F16 scales (or F16/BF16 values) are NaN
// or infinite, naming the first bad block, as ggml_validate_row_data does.
func CheckScales(t Type, data []byte) error {
	switch t {
	case TypeF16, TypeBF16:
		mask := uint16(0x7c00)
		if t == TypeBF16 {
			mask = 0x7f80
		}
		for i := 0; i+1 < len(data); i += 2 {
			if binary.LittleEndian.Uint16(data[i:])&mask == mask {
				return fmt.Errorf("%s value %d is NaN or Inf", t, i/2)
			}
		}
		return nil
	}
	offs, ok := scaleOffsets[t]
	if !ok {
		return nil
	}
	bb := t.BlockBytes()
	for b := 0; b+bb <= len(data); b += bb {
		for _, o := range offs {
			if binary.LittleEndian.Uint16(data[b+o:])&0x7c00 == 0x7c00 {
				return fmt.Errorf("%s block %d has a NaN or Inf scale", t, b/bb)
			}
		}
	}
	return nil
}

// ScaleOffsets returns the byte offsets, within one block of t, of the F16
// scales (d, and dmin or m where t has one); nil for unquantized types.
func ScaleOffsets(t Type) []int { return scaleOffsets[t] }
