//go:build goexperiment.simd && amd64

package kernel

import (
	"simd/archsimd"
	"unsafe"

	"github.com/graft-ai/graft/engine/gguf"
)

//go:generate python3 gen_dot8.py
//go:generate gofmt -w dot8_amd64.go
//go:generate python3 gen_dot8z.py
//go:generate gofmt -w dot8z_amd64.go

// dot8Func is one AVX2 integer-dot kernel of a fixed tile shape.
type dot8Func func(out *float32, ldo int, xq *byte, ldx int, w *byte, ldw int, nb int)

// dot8Set holds a type's kernels by [rows-1][cols-1]: rows·cols ≤ 4 for a
// lone row, ≤ 8 for more.
type dot8Set [4][4]dot8Func

// init puts the AVX2 integer dots (dot8_amd64.s) in place of the
// references where the CPU has AVX2, FMA and F16C and GRAFT_KERNEL_LEVEL
// allows. Each block's scaled sum is one FMA, as in the references (fma32),
// so they match them bit for bit and serve at every SIMD level.
func init() {
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() || !hasF16C() || levelLimit() < 1 {
		return
	}
	for t, k := range dot8AVX2 {
		if d := intDots[t]; d != nil {
			d.dot = k.tile
			if streamed[t] {
				d.row = lonerow(t)
			}
			if d.act == actQ8_0 {
				d.quantize = quantizeQ8_0AVX2
				d.batch = &batchDot{scales: dot8HalfScales, products: dot8Products, tile: dot8sAVX2.tile, quad: dot8sQuad}
				if u := dot8UnpackAVX2[t]; u != nil {
					d.batch.unpack, d.batch.tile, d.batch.quad = u, dot8uAVX2.tile, dot8uQuad
				}
				if t == gguf.TypeQ4_0 { // its block-total contract (dot8.go)
					d.batch.tile, d.batch.quad = dot8tAVX2.tile, dot8tQuad
				}
				if t == gguf.TypeQ8_0 && hasVNNI512() {
					d.batch.quad, d.batch.biasedQuad = dot8zQuad, true
				}
			}
		}
	}
}

// tile runs a rows×cols tile as kernels of at most 8 dots: a tile of more
// is split into column strips, each weight block unpacked once per strip.
func (k *dot8Set) tile(out *float32, ldo int, xq *byte, ldx int, w *byte, ldw int, nb int, rows, cols int) {
	if k[rows-1][0] == nil { // Q4_0: lone-row kernels only, a row at a time
		for r := range rows {
			k.tile((*float32)(unsafe.Add(unsafe.Pointer(out), 4*r*ldo)), ldo,
				(*byte)(unsafe.Add(unsafe.Pointer(xq), r*ldx)), ldx, w, ldw, nb, 1, cols)
		}
		return
	}
	if rows*cols <= 8 && k[rows-1][cols-1] != nil {
		k[rows-1][cols-1](out, ldo, xq, ldx, w, ldw, nb)
		return
	}
	cw := 8 / rows
	for c := 0; c < cols; c += cw {
		n := min(cw, cols-c)
		k[rows-1][n-1]((*float32)(unsafe.Add(unsafe.Pointer(out), 4*c)), ldo, xq, ldx,
			(*byte)(unsafe.Add(unsafe.Pointer(w), c*ldw)), ldw, nb)
	}
}

// dot8sSet holds the batched kernels by [rows-1][cols-1], rows ≥ 2.
type dot8sSet [4][4]func(out *float32, ldo int, xq *byte, ldx int, w *byte, ldw int, nb int, dp *float32)

// tile is dot8Set.tile for the batched kernels: strips of 8/rows columns,
// each with its columns' scale products (dp advances 4 floats a column).
func (k *dot8sSet) tile(out *float32, ldo int, xq *byte, ldx int, w *byte, ldw int, nb int, dp *float32, rows, cols int) {
	if rows*cols <= 8 && k[rows-1][cols-1] != nil {
		k[rows-1][cols-1](out, ldo, xq, ldx, w, ldw, nb, dp)
		return
	}
	cw := 8 / rows
	for c := 0; c < cols; c += cw {
		n := min(cw, cols-c)
		k[rows-1][n-1]((*float32)(unsafe.Add(unsafe.Pointer(out), 4*c)), ldo, xq, ldx,
			(*byte)(unsafe.Add(unsafe.Pointer(w), c*ldw)), ldw, nb, (*float32)(unsafe.Add(unsafe.Pointer(dp), 16*c)))
	}
}

// quantizeQ8_0AVX2 is quantizeQ8_0Act in AVX2 (q8Row).
func quantizeQ8_0AVX2(dst []byte, x []float32) { quantizeBlocks(dst, x, 34, q8Row, quantizeQ8_0Act) }

// quantizeBlocks quantizes x into activation blocks of bb bytes with row, an
// assembly quantizer that does up to nb blocks and stops before one holding
// a NaN, returning how many it did. Such a block takes the reference ref,
// whose amax depends on where the NaN is; row goes on after it.
func quantizeBlocks(dst []byte, x []float32, bb int, row func(dst *byte, x *float32, nb int) int, ref func([]byte, []float32)) {
	nb := len(x) / 32
	dst = dst[:nb*bb]
	for b := 0; b < nb; b++ {
		if b += row(&dst[b*bb], &x[b*32], nb-b); b == nb {
			return
		}
		ref(dst[b*bb:(b+1)*bb], x[b*32:(b+1)*32])
	}
}

// streamed holds the types whose decode reads several streams (lonerow).
// Q5_0's lone-row kernel is its bound, not memory, as Q4_0's per-lane
// kernel was (as fast from L2 as from memory on one Zen 3 thread, and
// slower on four streams than in order: TestDot8RowAB, best of 60, 13.7
// against 14.4 GB/s).
var streamed = map[gguf.Type]bool{gguf.TypeQ8_0: true, gguf.TypeQ4_0: true}

// lonerow is type t's streamRow.row (streamRow8's for Q4_0, which has
// eight-row kernels).
func lonerow(t gguf.Type) func(out *float32, xq *byte, w *byte, ldw, nb, cols int) {
	k := dot8AVX2[t]
	narrow := streamRow{dot8RowAVX2[t], k[0][3], k[0][0]}
	if t == gguf.TypeQ4_0 {
		return (&streamRow8{dot8Q4_0x1x8s, dot8Q4_0x1x8, narrow}).row
	}
	return narrow.row
}
