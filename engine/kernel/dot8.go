package kernel

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/graft-ai/graft/engine/float16"
	"github.com/graft-ai/graft/engine/gguf"
)

// Integer-activation dots (MatMulQ8): each x row is quantized once per call
// into 8-bit activation blocks, as ggml does (Q8_0 blocks for the 32-value
// formats, Q8_1 for Q4_1 and Q5_1, Q8_K for the K-quants), and every output is a dot of integer
// blocks scaled in float32. The weights are never decoded to float, which is
// what makes the K-quants memory-bound instead of bound by the float pipes.
//
// The contract with the kernel files of each type (this file for Q4_0, Q5_0
// and Q8_0, dot81*.go for Q4_1 and Q5_1, dotk*.go for the K-quants): a type registers an *intDot in intDots
// from an init; its .dot is a portable reference, and SIMD builds replace it
// by kernels fuzzed against that reference bit for bit.

// qdotIFunc computes out[r*ldo+c] for r < rows and c < cols (rows in 1..4,
// or up to the intDot's tileRows; cols in 1..4): the dot of activation row r (xq + r*ldx bytes: nb activation blocks)
// with weight row c (w + c*ldw bytes: nb weight blocks). Every element has the
// bits of the type's reference single dot, whatever the tile shape, so any
// tiling (and any batch size) gives the same results.
type qdotIFunc func(out *float32, ldo int, xq *byte, ldx int, w *byte, ldw int, nb int, rows, cols int)

// actFormat is an activation block layout (ggml's).
type actFormat int

const (
	actQ8_0  actFormat = iota // 34 B: f16 d, 32 int8
	actQ8_K                   // 292 B: f32 d, 256 int8, 16 int16 bsums
	actQ8_0S                  // Q8_0 blocks, then 8·Σx of each as int32 (packq4.go)
	actQ8_1                   // 36 B: f16 d, f16 d·Σq, 32 int8 (dot81.go)
	actQ8_KT                  // actQ8_K with the quants in packed Q6_K's order (packq6k.go)
)

// blockBytes and blockSize describe one activation block of the format.
func (f actFormat) blockBytes() int { return [...]int{34, 292, 38, q8_1Bytes, 292}[f] }
func (f actFormat) blockSize() int  { return [...]int{32, 256, 32, 32, 256}[f] }

// intDot describes a weight type's integer-activation dot.
type intDot struct {
	act actFormat // the activation block format; its block size equals the weight type's
	// quantize turns one row of x (a multiple of the block size) into
	// activation blocks, bit-exact to ggml's quantize_row_q8_0_ref /
	// quantize_row_q8_K_ref on finite input.
	quantize func(dst []byte, x []float32)
	dot      qdotIFunc
	batch    *batchDot // batched kernels for several rows (matmulq8.go), or nil
	// row, where set, computes out[c] for c < cols from one activation row
	// and weight rows w + c·ldw as .dot would, in any order (dotk_amd64.go
	// reads them as several streams).
	row func(out *float32, xq *byte, w *byte, ldw, nb, cols int)
	// tileRows, where set, is the most activation rows .dot takes at once
	// (up to 8; 4 otherwise).
	tileRows int
	// cols, where set, is the columns of every tile (packed weights'
	// groups); 4 otherwise.
	cols int
	// blockBytes, where set, is a weight row's bytes per block in this
	// dot's layout (a packed row's share of its group); the type's
	// otherwise.
	blockBytes int
}

// rowBytes is the bytes of a weight row of nb blocks of type t in id's
// layout.
func (id *intDot) rowBytes(t gguf.Type, nb int) int {
	if id.blockBytes > 0 {
		return nb * id.blockBytes
	}
	return nb * t.BlockBytes()
}

// intDots holds the types with an integer-activation dot; generic references
// are registered in init (portable builds), SIMD builds replace .dot with
// kernels fuzzed against them.
var intDots = map[gguf.Type]*intDot{}

func init() {
	intDots[gguf.TypeQ4_0] = &intDot{act: actQ8_0, quantize: quantizeQ8_0Act, dot: tileOf(dotQ4_0Q8_0, 34, 18)}
	intDots[gguf.TypeQ8_0] = &intDot{act: actQ8_0, quantize: quantizeQ8_0Act, dot: tileOf(dotQ8_0Q8_0, 34, 34)}
	intDots[gguf.TypeQ5_0] = &intDot{act: actQ8_0, quantize: quantizeQ8_0Act, dot: tileOf(dotQ5_0Q8_0, 34, 22)}
}

// tileOf makes a qdotIFunc of a single reference dot over nb blocks of xbb
// activation and wbb weight bytes each.
func tileOf(one func(xq, w []byte, nb int) float32, xbb, wbb int) qdotIFunc {
	return func(out *float32, ldo int, xq *byte, ldx int, w *byte, ldw int, nb int, rows, cols int) {
		for r := range rows {
			x := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(xq), r*ldx)), nb*xbb)
			o := unsafe.Slice((*float32)(unsafe.Add(unsafe.Pointer(out), 4*r*ldo)), cols)
			for c := range cols {
				o[c] = one(x, unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(w), c*ldw)), nb*wbb), nb)
			}
		}
	}
}

// HasIntDot reports whether MatMulQ8 computes type t with integer dots (it
// falls back to MatMulQ's float path for the others).
func HasIntDot(t gguf.Type) bool { return intDots[t] != nil }

// amaxQ8_0 is ggml's fold of MAX(amax, |x|) over a block: with a NaN in
// the block, where it stands decides the result.
func amaxQ8_0(v *[32]float32) float32 {
	var amax float32
	for _, f := range v {
		if a := float32(math.Abs(float64(f))); !(amax > a) {
			amax = a
		}
	}
	return amax
}

// scaleQ8_0 is a Q8_0 block's d = amax/127 and the reciprocal the values are
// multiplied by (0 for a block of zeros).
func scaleQ8_0(amax float32) (d, id float32) {
	d = amax / 127
	if d != 0 {
		id = 1 / d
	}
	return d, id
}

// quantizeQ8_0Act is ggml's quantize_row_q8_0_ref: per block of 32, d =
// amax/127 stored as a half, values roundf(x/d) with the float32 reciprocal.
// ggml leaves non-finite input undefined (a float to int8 cast out of range);
// here a NaN quantizes to 0 and a value past ±127 (an infinite x, or a scale
// that underflowed) to ±127, so the integer dots never see -128 and never
// saturate; such a block's half scale is Inf or NaN and so is its share of
// the dot.
func quantizeQ8_0Act(dst []byte, x []float32) {
	nb := len(x) / 32
	dst = dst[:nb*34]
	for b := range nb {
		quantizeBlockQ8(dst[b*34:(b+1)*34], (*[32]float32)(x[b*32:]))
	}
}

// quantizeBlockQ8 writes block v's half d and, in the last 32 bytes of
// out, its values (quantizeQ8_0Act's), and returns d and the values' sum
// (Q8_1's s is made of them).
func quantizeBlockQ8(out []byte, v *[32]float32) (d float32, sum int32) {
	d, id := scaleQ8_0(amaxQ8_0(v))
	binary.LittleEndian.PutUint16(out, float16.Float32ToF16(d))
	qs := out[len(out)-32:]
	for j, f := range v {
		q := roundQ8(f * id)
		qs[j] = byte(q)
		sum += int32(q)
	}
	return d, sum
}

// roundQ8 is C's roundf (half away from zero) for |q| ≤ 127, with NaN to 0
// and anything beyond to ±127.
func roundQ8(q float32) int8 {
	switch {
	case q >= 127:
		return 127
	case q <= -127:
		return -127
	case q != q:
		return 0
	}
	t := int32(q) // toward zero; q - t is exact below 2^23
	switch f := q - float32(t); {
	case f >= 0.5:
		t++
	case f <= -0.5:
		t--
	}
	return int8(t)
}

// half reads a little-endian IEEE half at b.
func half(b []byte) float32 { return float16.F16ToFloat32(binary.LittleEndian.Uint16(b)) }

// The reference dots of the 32-value formats against Q8_0 activations. The
// float order of Q5_0 and Q8_0, which their AVX2 kernels follow exactly:
// eight float32 lanes; lane l takes, per block in order, the exact int32 sum
// of the block's products 4l..4l+3 (VPMADDUBSW then VPMADDWD), converted to
// float32 and added times d = d_w·d_x (both widened halves, their float32
// product) with one fused multiply-add, as ggml does. The lanes are then
// summed as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).
//
// Q4_0 takes one float32 instead: per block in order, the exact int32 sum
// of all 32 products, converted and added times d with one fused
// multiply-add (as llama.cpp's repacked Q4_0 kernels sum a block). Its AVX2
// kernels fold the integer sums of four or eight outputs into one vector
// and convert and scale them together, where the lanes took a conversion,
// a spread of the scale and an FMA per output and block: the lone-row
// kernel was bound by the FP pipes (15 GB/s on one Zen 3 thread), not by
// memory.

// dotQ4_0Q8_0 is ggml_vec_dot_q4_0_q8_0 with each block's integer sum
// whole.
func dotQ4_0Q8_0(xq, w []byte, nb int) float32 {
	var acc float32
	for b := range nb {
		wb, xb := (*[18]byte)(w[b*18:]), (*[34]byte)(xq[b*34:])
		d := half(wb[:]) * half(xb[:])
		var s int32
		for k := range 32 {
			s += int32(q4Nibble(wb, k)) * int32(int8(xb[2+k]))
		}
		acc = fma32(float32(s), d, acc)
	}
	return acc
}

// fma32 is float32's fused multiply-add a·b+c, rounded once: the product of
// two float32 is exact in float64, their sum with c is rounded to odd there
// (TwoSum gives the error that decides it), and 53 ≥ 24+2 bits make the
// final rounding to float32 the correct one (Boldo and Melquiond).
func fma32(a, b, c float32) float32 {
	p := float64(float64(a) * float64(b))
	s := float64(p + float64(c))
	if math.IsInf(s, 0) || s != s {
		return float32(s)
	}
	t := float64(s - p)
	e := float64(p-float64(s-t)) + float64(float64(c)-t)
	if bits := math.Float64bits(s); e != 0 && bits&1 == 0 {
		if (e > 0) == (s > 0) {
			bits++
		} else {
			bits--
		}
		s = math.Float64frombits(bits)
	}
	return float32(s)
}

// q4Nibble is value k (0..31) of a Q4_0 block: low nibbles are 0..15, high
// ones 16..31, minus 8.
func q4Nibble(wb *[18]byte, k int) int8 {
	if k < 16 {
		return int8(wb[2+k]&0xF) - 8
	}
	return int8(wb[2+k-16]>>4) - 8
}

// dotQ5_0Q8_0 is ggml_vec_dot_q5_0_q8_0 in that order.
func dotQ5_0Q8_0(xq, w []byte, nb int) float32 {
	var acc [8]float32
	for b := range nb {
		wb, xb := (*[22]byte)(w[b*22:]), (*[34]byte)(xq[b*34:])
		d := half(wb[:]) * half(xb[:])
		qh := binary.LittleEndian.Uint32(wb[2:])
		for l := range 8 {
			var s int32
			for k := 4 * l; k < 4*l+4; k++ {
				s += int32(q5Value(wb, qh, k)) * int32(int8(xb[2+k]))
			}
			acc[l] = fma32(float32(s), d, acc[l])
		}
	}
	return sum8(&acc)
}

// q5Value is value k (0..31) of a Q5_0 block: its nibble as in Q4_0, bit k
// of qh above it, minus 16 (ggml's dequantize_row_q5_0).
func q5Value(wb *[22]byte, qh uint32, k int) int8 {
	q := wb[6+k%16] >> (4 * (k / 16)) & 0xF
	return int8(q|byte(qh>>k&1)<<4) - 16
}

// dotQ8_0Q8_0 is ggml_vec_dot_q8_0_q8_0 in that order.
func dotQ8_0Q8_0(xq, w []byte, nb int) float32 {
	var acc [8]float32
	for b := range nb {
		wb, xb := (*[34]byte)(w[b*34:]), (*[34]byte)(xq[b*34:])
		d := half(wb[:]) * half(xb[:])
		for l := range 8 {
			var s int32
			for k := 4 * l; k < 4*l+4; k++ {
				s += int32(int8(wb[2+k])) * int32(int8(xb[2+k]))
			}
			acc[l] = fma32(float32(s), d, acc[l])
		}
	}
	return sum8(&acc)
}

// sum8 is the fixed horizontal sum of the AVX2 kernels (high half onto low,
// then pairs).
func sum8(a *[8]float32) float32 {
	v0, v1, v2, v3 := a[0]+a[4], a[1]+a[5], a[2]+a[6], a[3]+a[7]
	return (v0 + v2) + (v1 + v3)
}
