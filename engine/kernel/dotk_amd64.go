//go:build goexperiment.simd && amd64

package kernel

//go:generate python3 gen_dotk.py
//go:generate gofmt -w dotk_kernels_amd64.go

import (
	"simd/archsimd"
	"unsafe"

	"github.com/graft-ai/graft/engine/gguf"
)

// init swaps the reference K-quant integer dots and Q8_K quantizer (dotk.go, whose init runs
// first) for the AVX2 kernels of gen_dotk.py, which give the same bits,
// where the CPU has AVX2, FMA and F16C (scales widened by VCVTPH2PS) and
// GRAFT_KERNEL_LEVEL allows AVX2. They serve beside the AVX-512 float tiles
// too: their float order is their own, not the tiles'.
func init() {
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() || !hasF16C() || levelLimit() < 1 {
		return
	}
	for t, k := range dotkAVX2 {
		if v := dotkVNNI[t]; v != nil && hasVNNI512() {
			k = v // BenchmarkDotKVNNI: lone rows 1.06-1.09x, tiles 1.09-1.20x
		}
		intDots[t].dot, intDots[t].row, intDots[t].tileRows = k.tiles, k.streams().row, 8
	}
	for t, k := range dotkPackedAVX2 {
		if v := dotkPackedVNNI[t]; v != nil && hasVNNI512() {
			k = v // BenchmarkPackedVNNI: tiles 1.05-1.06x, a lone row 1.03-1.04x
		}
		if v := dotkPackedGFNI[t]; v != nil && hasGFNI512() {
			k = v // BenchmarkPackedGFNI
		}
		installPackedK(t, k)
	}
	for _, d := range intDots {
		if d.act == actQ8_K {
			d.quantize = quantizeQ8KAVX2
		}
	}
}

// installPackedK gives packed K-quant type t the kernels of set k, with
// activations in actQ8_KT's order.
func installPackedK(t gguf.Type, k *dotkSet) {
	packings[t].dot = &intDot{act: actQ8_KT, quantize: quantizeQ8KTAVX2, dot: k.tiles, row: k.streams().row, tileRows: 8}
}

// quantizeQ8KAVX2 is quantizeQ8K in assembly, with the same bytes.
func quantizeQ8KAVX2(dst []byte, x []float32) {
	nb := len(x) / 256
	if nb == 0 {
		return
	}
	_ = dst[:nb*q8KBytes]
	quantQ8K(&dst[0], &x[0], nb)
}

// quantizeQ8KTAVX2 is quantizeQ8KT with quantizeQ8KAVX2.
func quantizeQ8KTAVX2(dst []byte, x []float32) {
	quantizeQ8KAVX2(dst, x)
	transposeQ8K(dst, len(x)/256)
}

// dotkFunc computes the R×C dots of a fixed tile shape (dotk_amd64.s).
type dotkFunc func(out *float32, ldo int, x *byte, ldx int, w *byte, ldw int, nb int)

// dotkSet holds a type's kernels of the shapes 1×4, 1×1, 2×2, 2×1, 3×1
// and 4×1, the strided 1×4 of row, 8×1, and 8×4 (8×1 over four columns
// in one call).
type dotkSet [9]dotkFunc

// streams is the set's lone-row kernels (strided 1×4, 1×4, 1×1) as a
// streamRow, whose row is intDot.row.
func (k *dotkSet) streams() *streamRow {
	return &streamRow{dot8Func(k[6]), dot8Func(k[0]), dot8Func(k[1])}
}

// tiles covers rows×cols (rows 1..8, cols 1..4) with the set's shapes: 1×4
// for a lone activation row (decode), 2×2 for two, and R×1 column by column
// beyond, so that a weight block is unpacked once for every activation
// row; 8×1 for eight, which unpacks a block once for them all (about a
// fifth of the 4×1 kernel's work is unpacking); 5 to 7 as two tiles.
func (k *dotkSet) tiles(out *float32, ldo int, xq *byte, ldx int, w *byte, ldw int, nb int, rows, cols int) {
	c := 0
	if rows > 4 {
		if rows == 8 {
			if cols == 4 {
				k[8](out, ldo, xq, ldx, w, ldw, nb)
				return
			}
			for ; c < cols; c++ {
				o, wc := rowAt(out, w, ldw, c)
				k[7](o, ldo, xq, ldx, wc, ldw, nb)
			}
			return
		}
		k.tiles(out, ldo, xq, ldx, w, ldw, nb, 4, cols)
		out, xq = (*float32)(unsafe.Add(unsafe.Pointer(out), 16*ldo)), (*byte)(unsafe.Add(unsafe.Pointer(xq), 4*ldx))
		rows -= 4
	}
	switch rows {
	case 1:
		if cols == 4 {
			k[0](out, ldo, xq, ldx, w, ldw, nb)
			return
		}
		for ; c < cols; c++ {
			o, wc := rowAt(out, w, ldw, c)
			k[1](o, ldo, xq, ldx, wc, ldw, nb)
		}
	case 2:
		for ; c+2 <= cols; c += 2 {
			o, wc := rowAt(out, w, ldw, c)
			k[2](o, ldo, xq, ldx, wc, ldw, nb)
		}
		if c < cols {
			o, wc := rowAt(out, w, ldw, c)
			k[3](o, ldo, xq, ldx, wc, ldw, nb)
		}
	default:
		f := k[4+rows-3]
		for ; c < cols; c++ {
			o, wc := rowAt(out, w, ldw, c)
			f(o, ldo, xq, ldx, wc, ldw, nb)
		}
	}
}
