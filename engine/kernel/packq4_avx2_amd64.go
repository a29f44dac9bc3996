//go:build goexperiment.simd && amd64

package kernel

import (
	"simd/archsimd"
	"unsafe"
)

//go:generate python3 gen_q4x8.py
//go:generate gofmt -w q4x8_kernels_amd64.go

// init installs the packed Q4_0 kernels (q4x8_amd64.s) where the CPU and
// GRAFT_KERNEL_LEVEL allow the AVX2 integer dots.
func init() {
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() || !hasF16C() || levelLimit() < 1 {
		return
	}
	packedQ4_0 = &intDot{act: actQ8_0S, quantize: quantizeQ8_0Sums, dot: packedTile, row: packedRow, tileRows: 4, cols: packRows}
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

// packedTile is qdotIFunc for packed groups: cols is 8 (one group), rows
// at most 4.
func packedTile(out *float32, ldo int, xq *byte, ldx int, w *byte, ldw int, nb int, rows, cols int) {
	if cols != packRows {
		panic("kernel: a packed Q4_0 tile is one group of 8 rows")
	}
	dot8Q4_0x8AVX2[rows-1](out, ldo, xq, ldx, w, ldw, nb)
}

// packedRow is intDot.row for packed groups. A range whose quarters are at
// least rowMinStream bytes is read as four streams, a group of each per
// call (streamRow says why), the rest one group after the other. Each
// output is one group's dot either way, so the bits do not change.
func packedRow(out *float32, xq *byte, w *byte, ldw, nb, cols int) {
	groups, gb := cols/packRows, packRows*ldw
	g := 0
	if q := groups / 4; q > 0 && q*gb >= rowMinStream {
		for ; g < q; g++ {
			o, wc := rowAt(out, w, ldw, packRows*g)
			dot8Q4_0x8s4(o, packRows*q, xq, q*gb, wc, ldw, nb)
		}
		g = 4 * q
	}
	for ; g < groups; g++ {
		o, wc := rowAt(out, w, ldw, packRows*g)
		dot8Q4_0x8r1(o, 0, xq, 0, wc, ldw, nb)
	}
}
