package kernel

import (
	"fmt"
	"unsafe"

	"github.com/graft-ai/graft/engine/float16"
)

// tileKernels computes blocks of dot products out[r][c] = x_r · w_c. Every
// function of a set must produce, for each (r, c), the exact bits that one
// call to one would: that is what makes MatMul batch-invariant.
type tileKernels[W any] struct {
	rows, cols int // the largest block shape of tile
	// tile[r-1] computes r×cols dots, for 1 ≤ r ≤ rows; ldo, ldx and ldw
	// are the strides of out, x and w in elements and n is the dot length.
	tile []func(out []float32, ldo int, x []float32, ldx int, w []W, ldw, n int)
	// wide, when set, computes 1×wideCols dots: a lone row (decode) is
	// memory-bound, and more weight rows in flight read memory faster.
	wideCols int
	wide     func(out []float32, x []float32, w []W, ldw, n int)
	// span, when set, takes a lone row's whole column range first, in its
	// own order of rows, and returns how many columns it did (the rest go
	// to the tiles).
	span func(out, x []float32, w []W, n int) int
	one  func(x []float32, w []W, n int) float32
}

// Kernel sets in use; the SIMD build replaces them at init when the CPU can.
var (
	f32Kernels  = scalarKernels(dotGo)
	bf16Kernels = scalarKernels(dotBF16Go)
	f16Kernels  = scalarKernels(dotF16Go)
)

// MatMul computes out[r*outDim+o] = Σ_k x[r*in+k]·w[o*in+k] for r < rows and
// o < outDim: x is [rows, in], w is [outDim, in] (PyTorch Linear layout) and
// out is [rows, outDim], all row-major. Work is split over output columns
// across p (nil runs on the caller). It panics if a slice is too short.
func MatMul(p *Pool, out, x, w []float32, rows, in, outDim int) {
	checkMatMul(len(out), len(x), len(w), rows, in, outDim)
	j := matMulJob{f32: w}
	setupJob(&j, out, x, rows, in, outDim, &f32Kernels)
	j.dispatch(p)
}

// MatMulBF16 is MatMul with w given as bfloat16 bit patterns (the upper 16
// bits of a float32). Weights are widened to float32 exactly and the products
// accumulated in float32, so it equals MatMul on the widened weights up to
// the kernels' lane order.
func MatMulBF16(p *Pool, out, x []float32, w []uint16, rows, in, outDim int) {
	checkMatMul(len(out), len(x), len(w), rows, in, outDim)
	if rows > 1 { // widen a panel once for all rows: the same bits
		matMulPanels(p, out, x, halfBytes(w), 2*in, widenBF16Panel, rows, in, outDim)
		return
	}
	j := matMulJob{bf16: w}
	setupJob(&j, out, x, rows, in, outDim, &bf16Kernels)
	j.dispatch(p)
}

// MatMulF16 is MatMul with w given as IEEE half bit patterns, widened to
// float32 exactly and accumulated in float32 like MatMulBF16. The weights
// must be finite (the SIMD widening does not special-case Inf and NaN). A
// lone row takes the level's F16 tiles, which follow its float32 recipe on
// the widened weights: the bits of the panels that serve more rows.
func MatMulF16(p *Pool, out, x []float32, w []uint16, rows, in, outDim int) {
	checkMatMul(len(out), len(x), len(w), rows, in, outDim)
	if rows > 1 {
		matMulPanels(p, out, x, halfBytes(w), 2*in, widenF16Panel, rows, in, outDim)
		return
	}
	j := matMulJob{f16: w}
	setupJob(&j, out, x, rows, in, outDim, &f16Kernels)
	j.dispatch(p)
}

// Panel decoders for half weights: exact widening, in SIMD where the build
// has it.
var (
	widenBF16Panel = func(dst []float32, src []byte) { float16.BF16ToF32(dst, byteHalves(src)) }
	widenF16Panel  = func(dst []float32, src []byte) { float16.F16ToF32(dst, byteHalves(src)) }
)

func halfBytes(h []uint16) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(h))), 2*len(h))
}

func byteHalves(b []byte) []uint16 {
	return unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/2)
}

func checkMatMul(nOut, nX, nW, rows, in, outDim int) {
	if rows < 0 || in < 0 || outDim < 0 {
		panic(fmt.Sprintf("kernel: negative matmul shape rows=%d in=%d out=%d", rows, in, outDim))
	}
	if nOut < rows*outDim || nX < rows*in || nW < outDim*in {
		panic(fmt.Sprintf("kernel: matmul slices too short: out %d < %d, x %d < %d or w %d < %d",
			nOut, rows*outDim, nX, rows*in, nW, outDim*in))
	}
}

// matMulJob carries one MatMul call to the pool's workers. The pool keeps
// one, with its run method bound once, so that a call allocates nothing.
type matMulJob struct {
	out, x, f32 []float32
	bf16, f16   []uint16
	q           []byte                          // stored weights (MatMulQ, panels)
	rowBytes    int                             // bytes of one stored row of q
	deq         func(dst []float32, src []byte) // decodes whole rows of q
	panelCols   int                             // weight rows dequantized at once
	panels      [][]float32                     // per participant, panelCols×in each
	qk          *qdotSet                        // fused kernels for few rows (MatMulQ)
	qnb         int                             // blocks per stored row, for qk and idot
	idot        *intDot                         // integer dots (MatMulQ8)
	xq          []byte                          // x quantized for idot, ldq bytes a row
	xd          []float32                       // their scales for idot.batch (matmulq8.go)
	xs          []float32                       // Q8_1's s, as xd, for idot.batch.offsets
	xu          []byte                          // their values as x+128 for idot.batch's unsigned kernels
	iscr        []intScratch                    // idot.batch's scratch per participant
	ldq         int
	rows, in    int
	outDim      int
	rowBlock    int // rows whose x stays in L2 while a column chunk passes
	tileCols    int
	tileRows    int
	fn          func(lo, hi int) // the pool's p.mm.run
}

func setupJob[W any](j *matMulJob, out, x []float32, rows, in, outDim int, k *tileKernels[W]) {
	j.out, j.x, j.rows, j.in, j.outDim = out, x, rows, in, outDim
	j.tileRows, j.tileCols = k.rows, k.cols
	if rows == 1 && k.wide != nil {
		j.tileCols = k.wideCols
	}
	// About 192 KiB of x per row block: the block is re-read once per
	// column tile, so it must stay in L2 next to the weights.
	rb := (48 << 10) / max(in, 1)
	rb -= rb % k.rows
	j.rowBlock = max(rb, k.rows)
}

func (j *matMulJob) dispatch(p *Pool) {
	if j.rows == 0 || j.outDim == 0 {
		return
	}
	units := (j.outDim + j.tileCols - 1) / j.tileCols
	if p == nil || len(p.workers) == 0 || units == 1 {
		j.run(0, units)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fn := p.mm.fn
	p.mm = *j
	p.mm.fn = fn
	p.runProduct(j.rows, units, fn)
	p.mm = matMulJob{fn: fn} // drop the caller's slices
}

// run computes the output columns of column tiles [lo, hi).
func (j *matMulJob) run(lo, hi int) {
	c0, c1 := lo*j.tileCols, min(hi*j.tileCols, j.outDim)
	switch {
	case j.idot != nil:
		j.runInt(lo, hi)
	case j.qk != nil:
		j.runQDot(c0, c1)
	case j.f32 != nil:
		runTiles(&f32Kernels, j, j.f32, 0, c0, c1)
	case j.f16 != nil:
		runTiles(&f16Kernels, j, j.f16, 0, c0, c1)
	default:
		runTiles(&bf16Kernels, j, j.bf16, 0, c0, c1)
	}
}

// runTiles computes output columns [c0, c1) from w, whose first row is
// column wc. It walks row blocks, then column tiles, then row tiles, so that
// one column tile of w is reused from L1 by all rows of a block.
func runTiles[W any](k *tileKernels[W], j *matMulJob, w []W, wc, c0, c1 int) {
	in, od := j.in, j.outDim
	w = w[:(c1-wc)*in]
	if j.rows == 1 && k.span != nil {
		c0 += k.span(j.out[c0:c1], j.x[:in], w[(c0-wc)*in:(c1-wc)*in], in)
	}
	if j.rows == 1 && k.wide != nil {
		c := c0
		for ; c+k.wideCols <= c1; c += k.wideCols {
			k.wide(j.out[c:c+k.wideCols], j.x[:in], w[(c-wc)*in:(c-wc+k.wideCols)*in], in, in)
		}
		c0 = c
	}
	for r0 := 0; r0 < j.rows; r0 += j.rowBlock {
		r1 := min(r0+j.rowBlock, j.rows)
		for c := c0; c < c1; c += k.cols {
			if c+k.cols > c1 {
				remainderCols(k, j, w, wc, r0, r1, c, c1)
				break
			}
			wt := w[(c-wc)*in : (c-wc+k.cols)*in]
			for r := r0; r < r1; r += k.rows {
				t := min(k.rows, r1-r)
				k.tile[t-1](j.out[r*od+c:], od, j.x[r*in:(r+t)*in], in, wt, in, in)
			}
		}
	}
}

func remainderCols[W any](k *tileKernels[W], j *matMulJob, w []W, wc, r0, r1, c0, c1 int) {
	in, od := j.in, j.outDim
	for r := r0; r < r1; r++ {
		xr := j.x[r*in : (r+1)*in]
		for c := c0; c < c1; c++ {
			j.out[r*od+c] = k.one(xr, w[(c-wc)*in:(c-wc+1)*in], in)
		}
	}
}

// scalarKernels builds the portable 1×1 tile set around one dot function.
func scalarKernels[W any](one func(x []float32, w []W, n int) float32) tileKernels[W] {
	return tileKernels[W]{
		rows: 1, cols: 1,
		tile: []func([]float32, int, []float32, int, []W, int, int){
			func(out []float32, _ int, x []float32, _ int, w []W, _, n int) {
				out[0] = one(x[:n], w[:n], n)
			},
		},
		one: one,
	}
}

// stackRows builds the tiles of 1..rows rows from a one-row tile, for
// kernel sets whose only multi-row tile is the full block.
func stackRows[W any](rows int, block, row func(out []float32, ldo int, x []float32, ldx int, w []W, ldw, n int)) []func(out []float32, ldo int, x []float32, ldx int, w []W, ldw, n int) {
	t := make([]func([]float32, int, []float32, int, []W, int, int), rows)
	for i := range t {
		t[i] = func(out []float32, ldo int, x []float32, ldx int, w []W, ldw, n int) {
			for r := 0; r <= i; r++ {
				row(out[r*ldo:], ldo, x[r*ldx:], ldx, w, ldw, n)
			}
		}
	}
	t[rows-1] = block
	return t
}
