package cpu

import (
	"fmt"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/mapped"
)

// AddLoRA runs each segment on one worker with caller-side kernels, so a row's
// delta is computed by the same code whatever segment it falls in.
func (b *Backend) AddLoRA(out, x compute.Buffer, rows int, segs []compute.LoRASegment, scratch compute.Buffer) {
	if len(segs) == 0 {
		return
	}
	b.jobs.mu.Lock()
	defer b.jobs.mu.Unlock()
	j := &b.jobs.lora
	j.maxRank = 0
	for _, s := range segs {
		j.maxRank = max(j.maxRank, mat(s.A).rows)
		mat(s.B).transposed() // once per adapter slot load, before the workers read it
	}
	sc := buf(scratch)
	j.in, j.outDim = mat(segs[0].A).cols, mat(segs[0].B).rows
	j.out, j.x, j.segs = buf(out), buf(x), segs
	j.shrunk = sc[:rows*j.maxRank]
	b.pool.Run(len(segs), j.run)
	j.out, j.x, j.segs, j.shrunk = nil, nil, nil, nil
}

// LoRAMatrixBF16 is MatrixBF16 for a LoRA A or B: AddLoRA takes them as
// they are, so adapters stored in bfloat16 stay narrow. The matrix keeps a
// copy outside the Go heap (mapped.OffHeap): every active adapter slot holds
// one, and on the heap each would let as much garbage pile up again before
// a collection.
func (b *Backend) LoRAMatrixBF16(data []uint16, rows, cols int) compute.Matrix {
	if len(data) != rows*cols {
		panic(fmt.Sprintf("cpu: bf16 matrix data has %d values, want %d x %d", len(data), rows, cols))
	}
	m := &Matrix{rows: rows, cols: cols}
	m.bf16 = mapped.OffHeap[uint16](m, len(data))
	copy(m.bf16, data)
	return m
}
