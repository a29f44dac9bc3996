package cpu

import (
	"sync"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/kernel"
)

// Parallel ops hand the pool a method value bound once at construction, with
// their arguments in the job struct: a closure capturing them would be
// allocated on every call, i.e. several times per layer and token.

type rowsJob struct {
	out, x, w []float32
	n         int
	eps       float32
	run       func(lo, hi int)
}

func (j *rowsJob) rmsNorm(lo, hi int) {
	for r := lo; r < hi; r++ {
		kernel.RMSNorm(j.out[r*j.n:(r+1)*j.n], j.x[r*j.n:(r+1)*j.n], j.w, j.eps)
	}
}

// siluChunk is small enough that decode's one FFN row (2048 wide for the
// 110M shape) splits over two threads: whole, it ran on the caller alone
// while the other thread spun, 27 µs a layer with the scalar exp.
const siluChunk = 1024

type siluJob struct {
	out, gate, up []float32
	run           func(lo, hi int)
}

func (j *siluJob) siluMul(lo, hi int) {
	s, e := lo*siluChunk, min(hi*siluChunk, len(j.out))
	kernel.SiLUMul(j.out[s:e], j.gate[s:e], j.up[s:e])
}

type loraJob struct {
	out, x, shrunk      []float32
	segs                []compute.LoRASegment
	maxRank, in, outDim int
	run                 func(lo, hi int)
}

// apply shrinks with one MatMul per segment (t = A·x) and expands row by row as
// rank axpys over Bᵀ's rows (out += scale·t_j·Bᵀ_j): a MatMul against B would
// spend a full horizontal sum on every output for only rank products.
func (j *loraJob) apply(lo, hi int) {
	for _, s := range j.segs[lo:hi] {
		a, bt, n := mat(s.A), mat(s.B).t, s.End-s.Start
		t := j.shrunk[s.Start*j.maxRank : s.Start*j.maxRank+n*a.rows]
		kernel.MatMul(nil, t, j.x[s.Start*j.in:s.End*j.in], a.data, n, j.in, a.rows)
		for r := 0; r < n; r++ {
			row := j.out[(s.Start+r)*j.outDim : (s.Start+r+1)*j.outDim]
			for k := 0; k < a.rows; k++ {
				kernel.Axpy(row, s.Scale*t[r*a.rows+k], bt[k*j.outDim:(k+1)*j.outDim])
			}
		}
	}
}

// transposed makes m's transpose once, so that it can serve as a LoRA B.
func (m *Matrix) transposed() {
	if m.t != nil {
		return
	}
	m.t = make([]float32, len(m.data))
	for r := 0; r < m.rows; r++ {
		for c := 0; c < m.cols; c++ {
			m.t[c*m.rows+r] = m.data[r*m.cols+c]
		}
	}
}

// jobs holds one job of each kind; mu serialises their use so that engines
// sharing a backend cannot overwrite each other's arguments.
type jobs struct {
	mu   sync.Mutex
	rows rowsJob
	silu siluJob
	lora loraJob
}

func (j *jobs) bind() {
	j.rows.run = j.rows.rmsNorm
	j.silu.run = j.silu.siluMul
	j.lora.run = j.lora.apply
}
