package kernel

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/graft-ai/graft/engine/float16"
	"github.com/graft-ai/graft/engine/gguf"
)

// Quantized matmul: like ggml, the activations are quantized per row on the
// fly to 8-bit blocks of 32 values with a float32 scale (finer than ggml's
// Q8_K for the K-quants), so that the inner products are exact integer sums
// of weight quants times activation quants; only the per-block scaling is
// floating point.

// qacts holds rows of activations quantized per 32-value block: quants, the
// block scale, and the sum of the quants of each 16-value half (for the
// formats whose weights carry an offset).
type qacts struct {
	q []int8
	d []float32
	s []int32
}

func (a *qacts) quantize(x []float32, rows, in int) {
	n := rows * in
	if cap(a.q) < n {
		a.q, a.d, a.s = make([]int8, n), make([]float32, n/32), make([]int32, n/16)
	}
	a.q, a.d, a.s = a.q[:n], a.d[:n/32], a.s[:n/16]
	quantizeActs(a, x[:n])
}

var quantizeActs = quantizeActsGo

func quantizeActsGo(a *qacts, x []float32) {
	for b := range len(x) / 32 {
		xb := x[b*32 : b*32+32]
		var amax float32
		for _, v := range xb {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		a.d[b] = d
		q := a.q[b*32 : b*32+32]
		var s0, s1 int32
		for i, v := range xb {
			q[i] = int8(math.RoundToEven(float64(v * id)))
			if i < 16 {
				s0 += int32(q[i])
			} else {
				s1 += int32(q[i])
			}
		}
		a.s[2*b], a.s[2*b+1] = s0, s1
	}
}

// sub32 is one 32-value sub-block of a weight row, unpacked: value i is
// sc[i/16]·q[i] − mn[i/16].
type sub32 struct {
	q      [32]int8
	sc, mn [2]float32
}

// unpack32 decodes sub-block j (0 for the 32-value formats, 0..7 for the
// K-quants) of the block blk of type t.
func unpack32(t gguf.Type, blk []byte, j int, u *sub32) {
	h := func(o int) float32 { return float16.F16ToFloat32(binary.LittleEndian.Uint16(blk[o:])) }
	u.mn = [2]float32{}
	switch t {
	case gguf.TypeQ8_0:
		for i := range 32 {
			u.q[i] = int8(blk[2+i])
		}
		u.sc = [2]float32{h(0), h(0)}
	case gguf.TypeQ4_0, gguf.TypeQ4_1:
		off := 2
		if t == gguf.TypeQ4_1 {
			off = 4
			u.mn = [2]float32{-h(2), -h(2)}
		}
		for i := range 16 {
			lo, hi := int8(blk[off+i]&0xf), int8(blk[off+i]>>4)
			if t == gguf.TypeQ4_0 {
				lo, hi = lo-8, hi-8
			}
			u.q[i], u.q[i+16] = lo, hi
		}
		u.sc = [2]float32{h(0), h(0)}
	case gguf.TypeQ5_0, gguf.TypeQ5_1:
		off := 2
		if t == gguf.TypeQ5_1 {
			off = 4
			u.mn = [2]float32{-h(2), -h(2)}
		}
		qh := binary.LittleEndian.Uint32(blk[off:])
		qs := blk[off+4:]
		for i := range 16 {
			lo := int8(qs[i]&0xf | byte(qh>>i<<4)&0x10)
			hi := int8(qs[i]>>4 | byte(qh>>(i+12))&0x10)
			if t == gguf.TypeQ5_0 {
				lo, hi = lo-16, hi-16
			}
			u.q[i], u.q[i+16] = lo, hi
		}
		u.sc = [2]float32{h(0), h(0)}
	case gguf.TypeQ4_K, gguf.TypeQ5_K:
		unpackQ45K(t, blk, j, u, h(0), h(2))
	case gguf.TypeQ6_K:
		unpackQ6K(blk, j, u)
	case gguf.TypeQ2_K, gguf.TypeQ3_K:
		unpackQ23K(t, blk, j, u)
	default:
		panic(fmt.Sprintf("kernel: no quantized matmul for %s", t))
	}
}

func unpackQ45K(t gguf.Type, blk []byte, j int, u *sub32, d, dmin float32) {
	sc, m := scaleMinK4(j, blk[4:16])
	u.sc = [2]float32{d * float32(sc), d * float32(sc)}
	u.mn = [2]float32{dmin * float32(m), dmin * float32(m)}
	qs, shift := blk[16+32*(j/2):], 4*(j%2)
	if t == gguf.TypeQ5_K {
		qs = blk[48+32*(j/2):]
	}
	for i := range 32 {
		v := int8(qs[i] >> shift & 0xf)
		if t == gguf.TypeQ5_K && blk[16+i]>>j&1 != 0 {
			v += 16
		}
		u.q[i] = v
	}
}

func scaleMinK4(j int, q []byte) (sc, m byte) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

func unpackQ6K(blk []byte, j int, u *sub32) {
	half, e := j/4, j%4
	ql, qh := blk[64*half:], blk[128+32*half:]
	sc := blk[192+8*half:]
	d := float16.F16ToFloat32(binary.LittleEndian.Uint16(blk[208:]))
	for i := range 32 {
		lo := ql[i+32*(e%2)] >> (4 * (e / 2)) & 0xf
		u.q[i] = int8(lo|(qh[i]>>(2*e)&3)<<4) - 32
	}
	u.sc = [2]float32{d * float32(int8(sc[2*e])), d * float32(int8(sc[2*e+1]))}
}

// unpackQ23K: sub-block j covers values 32j..32j+31 of the 256, which sit in
// byte lane (j%4)·2 bits up of q[32·(j/4):] and use scales 2j and 2j+1.
func unpackQ23K(t gguf.Type, blk []byte, j int, u *sub32) {
	half, shift := j/4, 2*(j%4)
	if t == gguf.TypeQ2_K {
		d := float16.F16ToFloat32(binary.LittleEndian.Uint16(blk[80:]))
		dmin := float16.F16ToFloat32(binary.LittleEndian.Uint16(blk[82:]))
		q := blk[16+32*half:]
		for i := range 32 {
			u.q[i] = int8(q[i] >> shift & 3)
		}
		for k := range 2 {
			s := blk[2*j+k]
			u.sc[k], u.mn[k] = d*float32(s&0xf), dmin*float32(s>>4)
		}
		return
	}
	d := float16.F16ToFloat32(binary.LittleEndian.Uint16(blk[108:]))
	scales := q3kScales(blk[96:108])
	q, hm := blk[32+32*half:], blk[:32]
	m := byte(1) << (4*half + j%4)
	for i := range 32 {
		v := int8(q[i] >> shift & 3)
		if hm[i]&m == 0 {
			v -= 4
		}
		u.q[i] = v
	}
	for k := range 2 {
		u.sc[k] = d * float32(int(scales[2*j+k])-32)
	}
}

func q3kScales(s []byte) [16]int8 {
	const kmask1, kmask2 = 0x03030303, 0x0f0f0f0f
	a0, a1, tmp := binary.LittleEndian.Uint32(s), binary.LittleEndian.Uint32(s[4:]), binary.LittleEndian.Uint32(s[8:])
	aux := [4]uint32{
		a0&kmask2 | (tmp>>0&kmask1)<<4, a1&kmask2 | (tmp>>2&kmask1)<<4,
		a0>>4&kmask2 | (tmp>>4&kmask1)<<4, a1>>4&kmask2 | (tmp>>6&kmask1)<<4,
	}
	var out [16]int8
	for i, v := range aux {
		for k := range 4 {
			out[4*i+k] = int8(v >> (8 * k))
		}
	}
	return out
}

// dotQGo is the portable recipe and the reference of every SIMD one: per
// 16-value half, acc += dx·(sc·Σq·xq − mn·Σxq), in block order.
func dotQGo(t gguf.Type, w []byte, a *qacts, row, in int) float32 {
	bs, bb := t.BlockSize(), t.BlockBytes()
	var u sub32
	var acc float32
	xq := a.q[row*in : (row+1)*in]
	for b := range in / 32 {
		blk := w[(b*32/bs)*bb:]
		unpack32(t, blk[:bb], (b*32%bs)/32, &u)
		dx := a.d[row*in/32+b]
		for h := range 2 {
			var isum int32
			for i := 16 * h; i < 16*h+16; i++ {
				isum += int32(u.q[i]) * int32(xq[32*b+i])
			}
			acc += dx * (u.sc[h]*float32(isum) - u.mn[h]*float32(a.s[row*in/16+2*b+h]))
		}
	}
	return acc
}
