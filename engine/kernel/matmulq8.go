package kernel

import (
	"fmt"
	"sync"

	"github.com/graft-ai/graft/engine/gguf"
)

// MatMulQ8 is MatMulQ with the activations quantized as ggml quantizes them
// (dot8.go): each row of x becomes 8-bit blocks once per call, and every
// output is the type's integer dot of one activation row with one weight
// row. Each element is computed by the same function whatever the number of
// rows, the tiling or the split over p, so a row's result is bit-identical
// alone or inside any batch. The outputs differ from MatMulQ's (exact on
// the decoded weights) by the activation rounding, about 2^-8 of each
// block's largest |x| per value. Types without an integer dot take MatMulQ.
func MatMulQ8(p *Pool, out, x []float32, w []byte, t gguf.Type, rows, in, outDim int) {
	id := intDots[t]
	if id == nil {
		MatMulQ(p, out, x, w, t, rows, in, outDim)
		return
	}
	if in%t.BlockSize() != 0 || id.act.blockSize() != t.BlockSize() {
		panic(fmt.Sprintf("kernel: %s rows of %d values are not whole blocks", t, in))
	}
	checkMatMul(len(out), len(x), len(w)/t.BlockBytes()*t.BlockSize(), rows, in, outDim)
	if rows == 0 || outDim == 0 {
		return
	}
	nb := in / t.BlockSize()
	j := matMulJob{q: w, rowBytes: nb * t.BlockBytes(), idot: id, qnb: nb, ldq: nb * id.act.blockBytes()}
	j.out, j.x, j.rows, j.in, j.outDim = out, x, rows, in, outDim
	j.tileCols = 4
	// x rows whose blocks stay in L2 while a column tile passes over them.
	j.rowBlock = max((192<<10)/j.ldq/4*4, 4)
	units := (outDim + j.tileCols - 1) / j.tileCols
	if p == nil || len(p.workers) == 0 {
		s := serialActs.Get().(*[]byte)
		defer serialActs.Put(s)
		j.xq = growBytes(s, rows*j.ldq)
		j.quantRows(0, rows)
		j.runInt(0, units)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	j.xq = growBytes(&p.acts, rows*j.ldq)
	fn := p.mm.fn
	p.mm = j
	p.mm.fn = fn
	if rows > 1 {
		p.runLocked(rows, p.mmQuant, nil)
	} else {
		p.mm.quantRows(0, 1)
	}
	if units == 1 {
		p.mm.run(0, 1)
	} else {
		p.runLocked(units, fn, nil)
	}
	p.mm = matMulJob{fn: fn}
}

// serialActs holds the quantized activations of calls without workers.
var serialActs = sync.Pool{New: func() any { return new([]byte) }}

func growBytes(b *[]byte, n int) []byte {
	if cap(*b) < n {
		*b = make([]byte, n)
	}
	return (*b)[:n]
}

// quantRows quantizes x rows [lo, hi) into their activation blocks.
func (j *matMulJob) quantRows(lo, hi int) {
	for r := lo; r < hi; r++ {
		j.idot.quantize(j.xq[r*j.ldq:(r+1)*j.ldq], j.x[r*j.in:(r+1)*j.in])
	}
}

// runInt computes the output columns of column tiles [lo, hi) with integer
// dots: row blocks, then column tiles of 4 weight rows, then tiles of up to
// 4 activation rows, so that a weight tile is unpacked once per 4 rows and
// reused from L1 across the block.
func (j *matMulJob) runInt(lo, hi int) {
	c0, c1 := lo*j.tileCols, min(hi*j.tileCols, j.outDim)
	od, ld, rb, nb, dot := j.outDim, j.ldq, j.rowBytes, j.qnb, j.idot.dot
	for r0 := 0; r0 < j.rows; r0 += j.rowBlock {
		r1 := min(r0+j.rowBlock, j.rows)
		for c := c0; c < c1; c += 4 {
			cols := min(4, c1-c)
			for r := r0; r < r1; r += 4 {
				dot(&j.out[r*od+c], od, &j.xq[r*ld], ld, &j.q[c*rb], rb, nb, min(4, r1-r), cols)
			}
		}
	}
}
