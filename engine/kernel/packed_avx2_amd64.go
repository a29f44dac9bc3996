//go:build goexperiment.simd && amd64

package kernel

import (
	"simd/archsimd"
	"unsafe"

	"github.com/graft-ai/graft/engine/gguf"
)

//go:generate python3 gen_q4x8.py
//go:generate gofmt -w q4x8_kernels_amd64.go
//go:generate python3 gen_q4kx8.py
//go:generate gofmt -w q4kx8_kernels_amd64.go

// init installs the packed kernels (q4x8_amd64.s, q4kx8_amd64.s) where the
// CPU and GRAFT_KERNEL_LEVEL allow the AVX2 integer dots, their VNNI twins
// where they allow AVX-512 VNNI, and the lone rows' GFNI twins where they
// allow AVX-512 GFNI too.
func init() {
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() || !hasF16C() || levelLimit() < 1 {
		return
	}
	vnni, gfni := hasVNNI512(), hasGFNI512()
	for _, k := range x8Kernels {
		rows, s4 := &k.avx2, k.avx2s4
		switch {
		case gfni: // the lone row 1.06-1.13x over VNNI (BenchmarkPackedGFNI)
			rows, s4 = &k.gfni, k.gfnis4
		case vnni:
			rows, s4 = &k.vnni, k.vnnis4
		}
		k.use(rows, s4)
	}
}

// x8Set is the kernels of a type packed eight rows to a block
// (q4x8_amd64.s, q4kx8_amd64.s): its tiles of 1-4 activation rows and its
// lone row's four streams, in AVX2 and AVX-512 VNNI (gfni: VNNI's with the
// lone row's GFNI twins), with the activations they take.
type x8Set struct {
	typ                    gguf.Type
	act                    actFormat
	quantize               func([]byte, []float32)
	avx2, vnni, gfni       [4]dot8Func
	avx2s4, vnnis4, gfnis4 dot8Func
}

var x8Kernels = []x8Set{
	{gguf.TypeQ4_0, actQ8_0S, quantizeQ8_0Sums, dot8Q4_0x8AVX2, dot8Q4_0x8VNNI, dot8Q4_0x8GFNI, dot8Q4_0x8s4, dot8Q4_0x8s4v, dot8Q4_0x8s4g},
	{gguf.TypeQ5_0, actQ8_0S, quantizeQ8_0Sums, dot8Q5_0x8AVX2, dot8Q5_0x8VNNI, dot8Q5_0x8GFNI, dot8Q5_0x8s4, dot8Q5_0x8s4v, dot8Q5_0x8s4g},
	{gguf.TypeQ4_1, actQ8_1, quantizeQ8_1AVX2, dot8Q4_1x8AVX2, dot8Q4_1x8VNNI, dot8Q4_1x8GFNI, dot8Q4_1x8s4, dot8Q4_1x8s4v, dot8Q4_1x8s4g},
	{gguf.TypeQ5_1, actQ8_1, quantizeQ8_1AVX2, dot8Q5_1x8AVX2, dot8Q5_1x8VNNI, dot8Q5_1x8GFNI, dot8Q5_1x8s4, dot8Q5_1x8s4v, dot8Q5_1x8s4g},
	{gguf.TypeQ4_K, actQ8_K, quantizeQ8KAVX2, dot8Q4_Kx8AVX2, dot8Q4_Kx8VNNI, dot8Q4_Kx8GFNI, dot8Q4_Kx8s4, dot8Q4_Kx8s4v, dot8Q4_Kx8s4g},
}

// use gives k's type its integer dot with one of k's levels: the tile
// kernels rows (of 1-4 activation rows) and the lone row's four-stream
// kernel s4.
func (k *x8Set) use(rows *[4]dot8Func, s4 dot8Func) {
	p := packings[k.typ]
	p.dot = &intDot{act: k.act, quantize: k.quantize, tileRows: 4, cols: packRows, blockBytes: p.rowBytes,
		dot: packedTile(rows), row: packedRow(s4, rows[0])}
}

// quantizeQ8_0Sums is quantizeQ8_0AVX2 followed by the blocks' 8·Σx
// (actSums8; actSums is its reference).
func quantizeQ8_0Sums(dst []byte, x []float32) {
	nb := len(x) / 32
	if nb == 0 {
		return
	}
	_ = dst[:nb*38]
	quantizeQ8_0AVX2(dst[:nb*34], x)
	actSums8((*int32)(unsafe.Pointer(&dst[nb*34])), &dst[0], nb)
}

// packedTile is qdotIFunc for packed groups of kernels k (k[R-1] takes R
// activation rows): cols is 8 (one group), rows at most 4.
func packedTile(k *[4]dot8Func) qdotIFunc {
	return func(out *float32, ldo int, xq *byte, ldx int, w *byte, ldw int, nb int, rows, cols int) {
		if cols != packRows {
			panic("kernel: a packed tile is one group of 8 rows")
		}
		k[rows-1](out, ldo, xq, ldx, w, ldw, nb)
	}
}

// packedRow is intDot.row for packed groups, with a kernel of four
// streams and one of a group. A range whose quarters are at least
// rowMinStream bytes is read as four streams, a group of each per call
// (streamRow says why), the rest one group after the other. Each output is
// one group's dot either way, so the bits do not change.
func packedRow(s4, r1 dot8Func) func(out *float32, xq *byte, w *byte, ldw, nb, cols int) {
	return func(out *float32, xq *byte, w *byte, ldw, nb, cols int) {
		groups, gb := cols/packRows, packRows*ldw
		g := 0
		if q := groups / 4; q > 0 && q*gb >= rowMinStream {
			for ; g < q; g++ {
				o, wc := rowAt(out, w, ldw, packRows*g)
				s4(o, packRows*q, xq, q*gb, wc, ldw, nb)
			}
			g = 4 * q
		}
		for ; g < groups; g++ {
			o, wc := rowAt(out, w, ldw, packRows*g)
			r1(o, 0, xq, 0, wc, ldw, nb)
		}
	}
}
