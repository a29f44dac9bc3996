package kernel

import (
	"fmt"

	"github.com/graft-ai/graft/engine/gguf"
)

// qTiles computes, for nr ≤ rows activation rows starting at row r and one
// weight row w, out[i·ldo] = dot(row r+i, w). Every row's dot must take the
// same operations whatever nr is: that keeps MatMulQ batch-invariant.
type qTiles struct {
	rows int
	tile func(out []float32, ldo int, a *qacts, r, nr, in int, w []byte)
}

// qKernels holds the kernels per weight type; the SIMD build replaces some.
var qKernels = func() map[gguf.Type]*qTiles {
	m := map[gguf.Type]*qTiles{}
	for _, t := range QuantTypes {
		m[t] = &qTiles{rows: 1, tile: func(out []float32, ldo int, a *qacts, r, nr, in int, w []byte) {
			for i := range nr {
				out[i*ldo] = dotQGo(t, w, a, r+i, in)
			}
		}}
	}
	return m
}()

// QuantTypes are the block formats MatMulQ computes with directly.
var QuantTypes = []gguf.Type{
	gguf.TypeQ4_0, gguf.TypeQ4_1, gguf.TypeQ5_0, gguf.TypeQ5_1, gguf.TypeQ8_0,
	gguf.TypeQ2_K, gguf.TypeQ3_K, gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K,
}

// qColTile is how many weight rows one scheduling unit covers.
const qColTile = 8

// MatMulQ is MatMul with w stored as outDim rows of GGUF blocks of type t
// (in values per row, a multiple of t's block size). The rows of x are
// quantized to 8 bits per 32-value block first, as ggml does, and the dot
// products are integer sums scaled per block.
func MatMulQ(p *Pool, out, x []float32, w []byte, t gguf.Type, rows, in, outDim int) {
	k, ok := qKernels[t]
	if !ok {
		panic(fmt.Sprintf("kernel: no quantized matmul for %s", t))
	}
	if in%t.BlockSize() != 0 {
		panic(fmt.Sprintf("kernel: %s rows of %d values are not whole blocks", t, in))
	}
	checkMatMul(len(out), len(x), len(w)/t.BlockBytes()*t.BlockSize(), rows, in, outDim)
	if rows == 0 || outDim == 0 {
		return
	}
	j := matMulJob{q: w, qt: t, qk: k, rows: rows, in: in, outDim: outDim, out: out,
		tileCols: qColTile, rowBlock: max(k.rows, (64<<10)/in/k.rows*k.rows)}
	units := (outDim + qColTile - 1) / qColTile
	if p == nil || len(p.workers) == 0 || units == 1 {
		var a qacts
		a.quantize(x, rows, in)
		j.qa = &a
		j.run(0, units)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.qa.quantize(x, rows, in)
	j.qa = &p.qa
	fn := p.mm.fn
	p.mm = j
	p.mm.fn = fn
	p.runLocked(units, fn)
	p.mm = matMulJob{fn: fn}
}

// runQ computes the output columns [c0, c1) of a quantized matmul.
func (j *matMulJob) runQ(c0, c1 int) {
	k, od, in := j.qk, j.outDim, j.in
	rowBytes := in / j.qt.BlockSize() * j.qt.BlockBytes()
	for r0 := 0; r0 < j.rows; r0 += j.rowBlock {
		r1 := min(r0+j.rowBlock, j.rows)
		for c := c0; c < c1; c++ {
			w := j.q[c*rowBytes : (c+1)*rowBytes]
			for r := r0; r < r1; r += k.rows {
				k.tile(j.out[r*od+c:], od, j.qa, r, min(k.rows, r1-r), in, w)
			}
		}
	}
}
