package kernel

import (
	"encoding/binary"
	"math"

	"github.com/graft-ai/graft/engine/gguf"
)

// Integer dots of K-quant weight rows with activation rows quantized to
// ggml's block_q8_K, as llama.cpp computes them (ggml_vec_dot_q{2..6}_K_q8_K):
// per super-block the products of the small integer quants with the int8
// activations are summed exactly in int32, and only then scaled by the
// block's float factors.
//
// The integer sums are exact whatever their grouping (no term can overflow
// an int16 pair sum or the int32 lanes), so the float arithmetic alone
// decides the bits, and its order is defined here, the one the AVX2 kernels
// (gen_dotk.py) follow: eight float32 lanes from zero. Lane k of a
// super-block takes S[k], the integer sum of scale·quant·activation over
// the bytes 4k..4k+3 of every 32-value group (where VPMADDUBSW+VPMADDWD
// leave them), and a per-type term of the bsums (B[j], the sum of the 16
// activations j; sc and mn the weights' scales and mins as integers):
//
//	Q4_K, Q5_K: acc[k] = fma(yd·d, S[k], acc[k]); acc[k] = fma(yd·dmin, -mn[k]·(B[2k]+B[2k+1]), acc[k])
//	Q2_K:       acc[k] = fma(yd·d, S[k], acc[k]); acc[k] = fma(yd·dmin, -(mn[2k]·B[2k] + mn[2k+1]·B[2k+1]), acc[k])
//	Q6_K:       acc[k] = fma(yd·d, S[k] - 32·(sc[2k]·B[2k] + sc[2k+1]·B[2k+1]), acc[k])
//	Q3_K:       acc[k] = fma(yd·d, S[k] - 4·(sc[2k]·B[2k] + sc[2k+1]·B[2k+1]), acc[k])
//
// (yd·d a float32 product; Q6_K and Q3_K quants taken unsigned, their
// offset coming back through B as in ggml). The dot is then
// (acc[0]+acc[4] + acc[1]+acc[5]) + (acc[2]+acc[6] + acc[3]+acc[7]), the
// reduction of the AVX2 float32 tiles. Every tile shape computes each
// element this same way, so results do not depend on the batch. NaN or Inf
// in a weight's scales, or in yd, give NaN or ±Inf outputs as the IEEE
// operations above do (NaN payloads aside); an infinite activation makes
// its row's yd infinite and its quants zero, so that row's dots are NaN, as
// in ggml.

// q8KBytes is the size of ggml's block_q8_K: float32 d, int8 qs[256],
// int16 bsums[16].
const q8KBytes = 4 + 256 + 32

func init() {
	intDots[gguf.TypeQ4_K] = &intDot{act: actQ8_K, quantize: quantizeQ8K, dot: tileOf(dotQ4K, q8KBytes, 144)}
	intDots[gguf.TypeQ5_K] = &intDot{act: actQ8_K, quantize: quantizeQ8K, dot: tileOf(dotQ5K, q8KBytes, 176)}
	intDots[gguf.TypeQ2_K] = &intDot{act: actQ8_K, quantize: quantizeQ8K, dot: tileOf(dotQ2K, q8KBytes, 84)}
	intDots[gguf.TypeQ3_K] = &intDot{act: actQ8_K, quantize: quantizeQ8K, dot: tileOf(dotQ3K, q8KBytes, 110)}
	intDots[gguf.TypeQ6_K] = &intDot{act: actQ8_K, quantize: quantizeQ8K, dot: tileOf(dotQ6K, q8KBytes, 210)}
}

// quantizeQ8K is ggml's quantize_row_q8_K_ref (ggml-quants.c) for len(x)/256
// blocks: the value of largest magnitude (the first, on ties) maps to -127,
// each quant is nearest_int(iscale·x) capped at 127 and stored in an int8,
// bsums are the sums of 16 quants, d = 1/iscale. nearest_int's magic-number
// rounding is kept for its results on NaN and out-of-range products.
func quantizeQ8K(dst []byte, x []float32) {
	nb := len(x) / 256
	_ = dst[:nb*q8KBytes]
	for i := range nb {
		xs, b := (*[256]float32)(x[256*i:]), (*[q8KBytes]byte)(dst[q8KBytes*i:])
		var amax, mx float32
		for _, v := range xs {
			if a := math.Float32frombits(math.Float32bits(v) &^ (1 << 31)); a > amax {
				amax, mx = a, v
			}
		}
		if amax == 0 {
			*b = [q8KBytes]byte{} // ggml leaves bsums alone here; its dots ignore them when d = 0
			continue
		}
		iscale := -127 / mx
		for j := range 16 {
			s := int32(0)
			for l := 16 * j; l < 16*j+16; l++ {
				q := int8(nearestInt(float32(iscale * xs[l])))
				b[4+l] = byte(q)
				s += int32(q)
			}
			binary.LittleEndian.PutUint16(b[4+256+2*j:], uint16(int16(s)))
		}
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(1/iscale))
	}
}

// nearestInt is ggml's nearest_int followed by quantize_row_q8_K_ref's
// MIN(127, v): v rounded to even by adding 1.5·2^23 and reading the low
// mantissa bits.
func nearestInt(v float32) int32 {
	r := float32(v) + 12582912
	i := int32(math.Float32bits(r))&0x007fffff - 0x00400000
	return min(i, 127)
}

// actD and actQ read an activation block's d and quant j.
func actD(a []byte) float32         { return math.Float32frombits(binary.LittleEndian.Uint32(a)) }
func actQ(a []byte, j int) int32    { return int32(int8(a[4+j])) }
func actBsum(a []byte, j int) int32 { return int32(int16(binary.LittleEndian.Uint16(a[4+256+2*j:]))) }

// dotQ4K is the reference Q4_K·Q8_K dot of nb super-blocks (144 bytes: d,
// dmin, scales[12], qs[128]).
func dotQ4K(x, w []byte, nb int) float32 { return dotK45(x, w, nb, 144, 16, -1) }

// dotQ5K is the reference Q5_K·Q8_K dot of nb super-blocks (176 bytes: d,
// dmin, scales[12], qh[32], qs[128]; bit sb of qh[l] adds 16 to value l of
// sub-block sb).
func dotQ5K(x, w []byte, nb int) float32 { return dotK45(x, w, nb, 176, 48, 16) }

// dotK45 is the Q4_K / Q5_K dot: blocks of bb bytes, nibbles at qs, high
// bits at qh (none when negative).
func dotK45(x, w []byte, nb, bb, qs, qh int) float32 {
	var acc [8]float32
	for i := range nb {
		a, b := x[q8KBytes*i:q8KBytes*(i+1)], w[bb*i:bb*(i+1)]
		var sc, mn [8]int32
		for j := range 8 {
			s, m := k4ScaleMin(j, b[4:16])
			sc[j], mn[j] = int32(s), int32(m)
		}
		var s [8]int32
		for sb := range 8 {
			q := b[qs+32*(sb/2):]
			for k := range 8 {
				p := int32(0)
				for t := 4 * k; t < 4*k+4; t++ {
					v := q[t] & 0xf
					if sb%2 == 1 {
						v = q[t] >> 4
					}
					if qh >= 0 {
						v |= (b[qh+t] >> sb & 1) << 4
					}
					p += int32(v) * actQ(a, 32*sb+t)
				}
				s[k] += sc[sb] * p
			}
		}
		yd := actD(a)
		d, dmin := float32(yd*half(b)), float32(yd*half(b[2:]))
		for k := range 8 {
			m := mn[k] * (actBsum(a, 2*k) + actBsum(a, 2*k+1))
			acc[k] = fma32(d, float32(s[k]), acc[k])
			acc[k] = fma32(dmin, float32(-m), acc[k])
		}
	}
	return hsum8(&acc)
}

// k4ScaleMin is ggml's get_scale_min_k4.
func k4ScaleMin(j int, q []byte) (sc, m byte) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// dotQ6K is the reference Q6_K·Q8_K dot of nb super-blocks (210 bytes:
// ql[128], qh[64], int8 scales[16], d). Quants are taken unsigned (0..63)
// and the 32 offset comes back through the bsums, as in ggml.
func dotQ6K(x, w []byte, nb int) float32 {
	var acc [8]float32
	for i := range nb {
		a, b := x[q8KBytes*i:q8KBytes*(i+1)], w[210*i:210*(i+1)]
		sc := func(j int) int32 { return int32(int8(b[192+j])) }
		var s [8]int32
		for n := range 2 {
			ql, qh := b[64*n:], b[128+32*n:]
			for m := range 4 {
				for k := range 8 {
					p := int32(0)
					for t := 4 * k; t < 4*k+4; t++ {
						lo := ql[t+32*(m%2)] & 0xf
						if m >= 2 {
							lo = ql[t+32*(m%2)] >> 4
						}
						q := int32(lo | (qh[t]>>(2*m)&3)<<4)
						p += q * actQ(a, 128*n+32*m+t)
					}
					s[k] += sc(8*n+2*m+k/4) * p
				}
			}
		}
		d := float32(actD(a) * half(b[208:]))
		for k := range 8 {
			corr := 32 * (sc(2*k)*actBsum(a, 2*k) + sc(2*k+1)*actBsum(a, 2*k+1))
			acc[k] = fma32(d, float32(s[k]-corr), acc[k])
		}
	}
	return hsum8(&acc)
}

// dotQ2K is the reference Q2_K·Q8_K dot of nb super-blocks (84 bytes:
// scales[16], each a 4-bit scale and a 4-bit min of 16 values, qs[64], d,
// dmin). Value 32m+b of half n is (qs[32n+b] >> 2m) & 3.
func dotQ2K(x, w []byte, nb int) float32 {
	var acc [8]float32
	for i := range nb {
		a, b := x[q8KBytes*i:q8KBytes*(i+1)], w[84*i:84*(i+1)]
		var s [8]int32
		for n := range 2 {
			for m := range 4 {
				for t := range 32 {
					q := int32(b[16+32*n+t] >> (2 * m) & 3)
					s[t%32/4] += int32(b[8*n+2*m+t/16]&15) * q * actQ(a, 128*n+32*m+t)
				}
			}
		}
		yd := actD(a)
		d, dmin := float32(yd*half(b[80:])), float32(yd*half(b[82:]))
		for k := range 8 {
			m := int32(b[2*k]>>4)*actBsum(a, 2*k) + int32(b[2*k+1]>>4)*actBsum(a, 2*k+1)
			acc[k] = fma32(d, float32(s[k]), acc[k])
			acc[k] = fma32(dmin, float32(-m), acc[k])
		}
	}
	return hsum8(&acc)
}

// dotQ3K is the reference Q3_K·Q8_K dot of nb super-blocks (110 bytes:
// hmask[32], qs[64], sixteen 6-bit scales in 12 bytes, d). Value 32m+b of
// half n is ((qs[32n+b] >> 2m) & 3) - 4 unless bit 4n+m of hmask[b] is set;
// it is taken as the unsigned (low | bit<<2) and the 4 comes back through
// the bsums, as Q6_K's 32.
func dotQ3K(x, w []byte, nb int) float32 {
	var acc [8]float32
	for i := range nb {
		a, b := x[q8KBytes*i:q8KBytes*(i+1)], w[110*i:110*(i+1)]
		sc := q3Scales(b[96:108])
		var s [8]int32
		for n := range 2 {
			for m := range 4 {
				for t := range 32 {
					q := int32(b[32+32*n+t]>>(2*m)&3 | (b[t]>>(4*n+m)&1)<<2)
					s[t/4] += sc[8*n+2*m+t/16] * q * actQ(a, 128*n+32*m+t)
				}
			}
		}
		d := float32(actD(a) * half(b[108:]))
		for k := range 8 {
			corr := 4 * (sc[2*k]*actBsum(a, 2*k) + sc[2*k+1]*actBsum(a, 2*k+1))
			acc[k] = fma32(d, float32(s[k]-corr), acc[k])
		}
	}
	return hsum8(&acc)
}

// q3Scales unpacks Q3_K's sixteen 6-bit scales, less 32 (ggml's aux
// masks).
func q3Scales(p []byte) [16]int32 {
	var sc [16]int32
	for j := range 16 {
		lo := p[j%8] >> (4 * (j / 8)) & 15
		hi := p[8+j%4] >> (2 * (j / 4)) & 3
		sc[j] = int32(lo|hi<<4) - 32
	}
	return sc
}

// hsum8 sums eight lanes as the AVX2 float32 tiles do: the halves added
// lane by lane, then two horizontal adds.
func hsum8(a *[8]float32) float32 {
	s0, s1, s2, s3 := a[0]+a[4], a[1]+a[5], a[2]+a[6], a[3]+a[7]
	return float32(s0+s1) + float32(s2+s3)
}
