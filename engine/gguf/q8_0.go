package gguf

import (
	"encoding/binary"
	"math"

	"github.com/graft-ai/graft/engine/float16"
)

// Q8_0 layout: blocks of 32 values, each an F16 scale d followed by 32 int8
// quants q, decoding to d*q.
const (
	Q8_0BlockSize  = 32
	Q8_0BlockBytes = 2 + Q8_0BlockSize
)

// QuantizeQ8_0 encodes src (a multiple of 32 values) into dst, which needs
// len(src)/32*34 bytes, exactly as llama.cpp's quantize_row_q8_0_ref does:
// d = max|x|/127 rounded to F16, q = round(x/d) half away from zero, all in
// float32 arithmetic.
func QuantizeQ8_0(dst []byte, src []float32) {
	for b := 0; b < len(src)/Q8_0BlockSize; b++ {
		x := src[b*Q8_0BlockSize : (b+1)*Q8_0BlockSize]
		out := dst[b*Q8_0BlockBytes : (b+1)*Q8_0BlockBytes]
		var amax float32
		for _, v := range x {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(out, float16.Float32ToF16(d))
		for j, v := range x {
			out[2+j] = byte(int8(math.Round(float64(v * id))))
		}
	}
}

// DequantizeQ8_0 decodes len(dst) values (a multiple of 32) from src.
func DequantizeQ8_0(dst []float32, src []byte) {
	for b := 0; b < len(dst)/Q8_0BlockSize; b++ {
		blk := src[b*Q8_0BlockBytes : (b+1)*Q8_0BlockBytes]
		d := float16.F16ToFloat32(binary.LittleEndian.Uint16(blk))
		out := dst[b*Q8_0BlockSize : (b+1)*Q8_0BlockSize]
		for j := range out {
			out[j] = float32(int8(blk[2+j])) * d
		}
	}
}
