package kernel

import (
	"fmt"
	"sync"

	"github.com/graft-ai/graft/engine/gguf"
)

// QuantTypes are the block formats MatMulQ computes with directly.
var QuantTypes = []gguf.Type{
	gguf.TypeQ4_0, gguf.TypeQ4_1, gguf.TypeQ5_0, gguf.TypeQ5_1, gguf.TypeQ8_0,
	gguf.TypeQ2_K, gguf.TypeQ3_K, gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K,
}

// dequantizers decode whole rows of blocks into float32 with the bits of
// gguf.Dequantize (ggml's dequantize_row_*); the SIMD build replaces some
// with faster twins that are fuzzed against these.
var dequantizers = func() map[gguf.Type]func(dst []float32, src []byte) {
	m := map[gguf.Type]func([]float32, []byte){}
	for _, t := range QuantTypes {
		m[t] = func(dst []float32, src []byte) {
			if err := gguf.Dequantize(t, dst, src); err != nil {
				panic(err) // MatMulQ checked the shapes
			}
		}
	}
	return m
}()

// MatMulQ is MatMul with w stored as outDim rows of GGUF blocks of type t
// (in values per row, a multiple of t's block size). Each participant
// decodes a panel of weight rows into float32, exactly as ggml dequantizes
// them, and runs MatMul's float32 tiles on it: a panel is decoded once for
// all the rows of x, and every output has the bits MatMul gives on the
// dequantized matrix, whatever the number of rows (batch invariance). Up to
// qdotMaxRows rows of x take fused kernels, where the CPU has them, that
// decode in registers and keep the same bits.
func MatMulQ(p *Pool, out, x []float32, w []byte, t gguf.Type, rows, in, outDim int) {
	deq, ok := dequantizers[t]
	if !ok {
		panic(fmt.Sprintf("kernel: no quantized matmul for %s", t))
	}
	if in%t.BlockSize() != 0 {
		panic(fmt.Sprintf("kernel: %s rows of %d values are not whole blocks", t, in))
	}
	checkMatMul(len(out), len(x), len(w)/t.BlockBytes()*t.BlockSize(), rows, in, outDim)
	if k := qdotKernels[t]; k != nil && rows <= qdotMaxRows {
		j := matMulJob{q: w, rowBytes: in / t.BlockSize() * t.BlockBytes(), qk: k, qnb: in / t.BlockSize()}
		setupJob(&j, out, x, rows, in, outDim, &f32Kernels)
		j.tileCols = 4
		j.dispatch(p)
		return
	}
	matMulPanels(p, out, x, w, in/t.BlockSize()*t.BlockBytes(), deq, rows, in, outDim)
}

// matMulPanels runs MatMul's float32 tiles on panels of w decoded by deq;
// rowBytes is the size of one stored weight row.
func matMulPanels(p *Pool, out, x []float32, w []byte, rowBytes int, deq func([]float32, []byte), rows, in, outDim int) {
	if rows == 0 || outDim == 0 {
		return
	}
	j := matMulJob{q: w, rowBytes: rowBytes, deq: deq}
	setupJob(&j, out, x, rows, in, outDim, &f32Kernels)
	j.panelCols = panelCols(rows, in)
	units := (outDim + j.panelCols - 1) / j.panelCols
	if p == nil {
		sp := serialPanels.Get().(*[1][]float32)
		defer serialPanels.Put(sp)
		growPanels(sp[:], j.panelCols*in)
		j.panels = sp[:]
		j.runPanels(0, 0, units)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	growPanels(p.panels, j.panelCols*in)
	j.panels = p.panels
	if len(p.workers) == 0 || units == 1 {
		j.runPanels(0, 0, units)
		return
	}
	fn := p.mm.fn
	p.mm = j
	p.mm.fn = fn
	p.runLocked(units, nil, p.mmPanel)
	p.mm = matMulJob{fn: fn}
}

// panelCols is how many weight rows a participant decodes at once: a
// multiple of every tile width, and a panel (budget floats) of about 256 KiB
// (L2) when many rows of x will reuse it, 32 KiB (L1) for a lone row.
func panelCols(rows, in int) int {
	budget := 8 << 10
	if rows > 1 {
		budget = 64 << 10
	}
	c := budget / max(in, 1) / 8 * 8
	return min(max(c, 8), 64)
}

// serialPanels holds the panels of calls without a pool.
var serialPanels = sync.Pool{New: func() any { return new([1][]float32) }}

func growPanels(panels [][]float32, n int) {
	for i := range panels {
		if cap(panels[i]) < n {
			panels[i] = make([]float32, n)
		}
	}
}

// runPanels computes the output columns of panels [lo, hi) on participant
// id's scratch panel.
func (j *matMulJob) runPanels(id, lo, hi int) {
	rowBytes := j.rowBytes
	panel := j.panels[id]
	for u := lo; u < hi; u++ {
		c0, c1 := u*j.panelCols, min((u+1)*j.panelCols, j.outDim)
		wf := panel[:(c1-c0)*j.in]
		j.deq(wf, j.q[c0*rowBytes:c1*rowBytes])
		runTiles(&f32Kernels, j, wf, c0, c0, c1)
	}
}

// qdotFunc computes the R×C dots of R float32 x rows (stride ldx floats)
// with C stored weight rows (stride ldw bytes) of nb blocks each, into
// out[r*ldo+c], with the bits of the float32 tiles on the decoded weights.
type qdotFunc func(out *float32, ldo int, x *float32, ldx int, w *byte, ldw int, nb int)

// qdotSet holds a type's fused kernels of the shapes 1×4, 1×1, 2×2, 2×1,
// 3×1 and 4×1.
type qdotSet [6]qdotFunc

// qdotKernels are the fused decode-and-dot kernels for few rows of x, by
// type; the SIMD build fills it where the CPU can.
var qdotKernels = map[gguf.Type]*qdotSet{}

// qdotMaxRows is the most x rows the fused kernels take: beyond it a
// decoded panel is reused by enough rows to pay for writing it.
const qdotMaxRows = 4

// runQDot computes output columns [c0, c1) with the fused kernels, which
// decode each weight block in registers once for all rows of x.
func (j *matMulJob) runQDot(c0, c1 int) {
	k, od, in, rb, nb := j.qk, j.outDim, j.in, j.rowBytes, j.qnb
	x, w := &j.x[0], j.q
	c := c0
	switch j.rows {
	case 1:
		for ; c+4 <= c1; c += 4 {
			k[0](&j.out[c], od, x, in, &w[c*rb], rb, nb)
		}
		for ; c < c1; c++ {
			k[1](&j.out[c], od, x, in, &w[c*rb], rb, nb)
		}
	case 2:
		for ; c+2 <= c1; c += 2 {
			k[2](&j.out[c], od, x, in, &w[c*rb], rb, nb)
		}
		for ; c < c1; c++ {
			k[3](&j.out[c], od, x, in, &w[c*rb], rb, nb)
		}
	default:
		f := k[4+j.rows-3]
		for ; c < c1; c++ {
			f(&j.out[c], od, x, in, &w[c*rb], rb, nb)
		}
	}
}
