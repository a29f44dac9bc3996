package kernel

import (
	"slices"

	"github.com/graft-ai/graft/engine/gguf"
)

// QProj is one projection of MatMulQ8Many: Out[rows, OutDim] = x · Wᵀ with W
// OutDim rows of type T.
type QProj struct {
	Out    []float32
	W      []byte
	T      gguf.Type
	OutDim int
	Packed bool // W is packed by Pack (MatMulPacked)
}

// maxProj bounds the projections of one MatMulQ8Many (Q, K, V at most).
const maxProj = 4

// MatMulQ8Many computes MatMulQ8(p, proj.Out, x, proj.W, proj.T, rows, in,
// proj.OutDim) for every projection, with the same bits, in one pass over
// the pool: x is quantized once per activation format, and the column tiles
// of all projections are one Run. Decode issues a Run per matmul, each a
// fork and a join of all threads on a few tens of µs of work; the
// projections of one input (Q, K and V; gate and up) in one Run share the
// join and let a thread done with one matrix stream the next. It reports
// false, computing nothing, when there are more than maxProj projections,
// one has no integer dot or ragged blocks, or several rows would take
// MatMulQ8's batched tiles: the caller then runs them one by one.
func MatMulQ8Many(p *Pool, x []float32, rows, in int, projs []QProj) bool {
	if len(projs) > maxProj || rows == 0 {
		return len(projs) <= maxProj
	}
	var ids [maxProj]*intDot
	for i, pr := range projs {
		id := dotFor(pr.T, pr.Packed)
		ids[i] = id
		if id == nil || (pr.Packed && pr.OutDim%packRows != 0) || in%pr.T.BlockSize() != 0 || id.act.blockSize() != pr.T.BlockSize() {
			return false
		}
		// Several rows of a type with batched tiles go through MatMulQ8's
		// batched path, whose reuse of each weight tile over the rows is
		// worth more than a shared join.
		if takesBatched(id, rows, in/pr.T.BlockSize()) {
			return false
		}
		checkMatMul(len(pr.Out), len(x), len(pr.W)/id.rowBytes(pr.T, 1)*pr.T.BlockSize(), rows, in, pr.OutDim)
	}
	if p == nil || len(p.workers) == 0 {
		for i, pr := range projs {
			matMulQ8(p, pr.Out, x, pr.W, pr.T, ids[i], rows, in, pr.OutDim)
		}
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	m := &p.many
	if m.fn == nil {
		m.fn = m.run // bound once: Run takes it without allocating
	}
	m.n = len(projs)
	// Each activation format's quantized x, one after the other in p.acts;
	// quant[f] is the first job of format f, which quantizes it.
	var fmts [maxProj]actFormat
	var offs, quant [maxProj]int
	nf, size := 0, 0
	for i := range projs {
		f := ids[i].act
		if !slices.Contains(fmts[:nf], f) {
			fmts[nf], offs[nf], quant[nf] = f, size, i
			size += rows * (in / f.blockSize()) * f.blockBytes()
			nf++
		}
	}
	acts := growBytes(&p.acts, size)
	units := 0
	for i, pr := range projs {
		j := newQ8Job(pr.Out, x, pr.W, pr.T, ids[i], rows, in, pr.OutDim)
		f := slices.Index(fmts[:nf], j.idot.act)
		j.xq = acts[offs[f] : offs[f]+rows*j.ldq]
		m.jobs[i] = j
		m.start[i] = units
		units += j.units()
	}
	m.start[len(projs)] = units
	for _, i := range quant[:nf] {
		if rows == 1 {
			m.jobs[i].quantRows(0, 1)
			continue
		}
		fn := p.mm.fn
		p.mm = m.jobs[i]
		p.mm.fn = fn
		p.runLocked(rows, p.mmQuant, nil)
		p.mm = matMulJob{fn: fn}
	}
	p.runProduct(rows, units, m.fn)
	clear(m.jobs[:]) // drop the caller's slices
	return true
}

// manyJob is MatMulQ8Many's Run: the column tiles of its projections,
// numbered one projection after the other.
type manyJob struct {
	jobs  [maxProj]matMulJob
	start [maxProj + 1]int // the first unit of each projection, then the total
	n     int
	fn    func(lo, hi int)
}

func (m *manyJob) run(lo, hi int) {
	for i := 0; i < m.n && lo < hi; i++ {
		s, e := m.start[i], m.start[i+1]
		if lo >= e {
			continue
		}
		h := min(hi, e)
		m.jobs[i].runInt(lo-s, h-s)
		lo = h
	}
}
