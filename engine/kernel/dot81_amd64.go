//go:build goexperiment.simd && amd64

package kernel

import (
	"simd/archsimd"

	"github.com/graft-ai/graft/engine/gguf"
)

//go:generate python3 gen_dot81.py
//go:generate gofmt -w dot81_kernels_amd64.go

// dot81Set is a type's Q8_1 kernels (dot81_amd64.s): a lone row with one
// and four weight rows, four as streams, and 2-4 rows with one.
type dot81Set struct {
	lone   streamRow
	rows   [3]dot8Func // 2, 3 and 4 activation rows
	unpack func(dst *byte, w *byte, nb int)
}

// init puts the AVX2 kernels and quantizer in place of the references
// where the CPU and GRAFT_KERNEL_LEVEL allow the AVX2 integer dots.
func init() {
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() || !hasF16C() || levelLimit() < 1 {
		return
	}
	for t, k := range dot81AVX2 {
		if v, ok := dot81LoneVNNI[t]; ok && hasVNNI512() {
			vk := *k
			vk.lone, k = v, &vk
		}
		d := intDots[t]
		d.quantize = quantizeQ8_1AVX2
		d.dot = k.tile
		d.row = k.lone.row
		// Several rows take dot8.go's batched tiles on the values
		// unpacked, and dot81Offsets adds the m·s floats after them.
		d.batch = &batchDot{scales: dot8HalfScales, products: dot8Products, unpack: k.unpack,
			tile: dot8uAVX2.tile, quad: dot8uQuad, offsets: &offsetKernels{dot81Offsets, dot81OffsetsAdd}}
	}
}

// dot81AVX2 holds the kernels of Q4_1 and Q5_1.
var dot81AVX2 = map[gguf.Type]*dot81Set{
	gguf.TypeQ4_1: {streamRow{dot81Q4_1x1x4s, dot81Q4_1x1x4, dot81Q4_1x1x1}, [3]dot8Func{dot81Q4_1x2x1, dot81Q4_1x3x1, dot81Q4_1x4x1}, dot81UnpackQ4_1},
	gguf.TypeQ5_1: {streamRow{dot81Q5_1x1x4s, dot81Q5_1x1x4, dot81Q5_1x1x1}, [3]dot8Func{dot81Q5_1x2x1, dot81Q5_1x3x1, dot81Q5_1x4x1}, dot81UnpackQ5_1},
}

// dot81LoneVNNI holds the lone rows' AVX-512 twins (VPDPBUSD's products;
// Q5_1's high bits through a mask register), which take the AVX2 kernels'
// place where the CPU has AVX-512 VNNI.
var dot81LoneVNNI = map[gguf.Type]streamRow{
	gguf.TypeQ4_1: {dot81Q4_1x1x4sv, dot81Q4_1x1x4v, dot81Q4_1x1x1v},
	gguf.TypeQ5_1: {dot81Q5_1x1x4sv, dot81Q5_1x1x4v, dot81Q5_1x1x1v},
}

// tile is a qdotIFunc: a lone row as intDot.row reads it, several rows a
// column at a time, its weight block unpacked once for all of them.
func (k *dot81Set) tile(out *float32, ldo int, xq *byte, ldx int, w *byte, ldw int, nb int, rows, cols int) {
	if rows == 1 {
		k.lone.row(out, xq, w, ldw, nb, cols)
		return
	}
	for c := range cols {
		o, wc := rowAt(out, w, ldw, c)
		k.rows[rows-2](o, ldo, xq, ldx, wc, ldw, nb)
	}
}

// quantizeQ8_1AVX2 is quantizeQ8_1Act in AVX2 (q8Row1).
func quantizeQ8_1AVX2(dst []byte, x []float32) {
	quantizeBlocks(dst, x, q8_1Bytes, q8Row1, quantizeQ8_1Act)
}
