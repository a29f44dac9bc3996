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

// apply shrinks with one MatMul per segment (t = A·x) and expands each row
// with one pass over B's panels (out += Σₖ scale·tₖ·B[:,k]): a MatMul
// against B would spend a full horizontal sum on every output for only rank
// products. A and B may each be bfloat16 (LoRAMatrixBF16): decode with many
// adapters reads every adapter's A and B each step, and they then take half
// the bytes.
func (j *loraJob) apply(lo, hi int) {
	for _, s := range j.segs[lo:hi] {
		a, b, n := mat(s.A), mat(s.B), s.End-s.Start
		t := j.shrunk[s.Start*j.maxRank : s.Start*j.maxRank+n*a.rows]
		x := j.x[s.Start*j.in : s.End*j.in]
		if a.bf16 != nil {
			kernel.MatMulBF16(nil, t, x, a.bf16, n, j.in, a.rows)
		} else {
			kernel.MatMul(nil, t, x, a.data, n, j.in, a.rows)
		}
		for i := range t {
			t[i] *= s.Scale
		}
		for r := 0; r < n; r++ {
			row := j.out[(s.Start+r)*j.outDim : (s.Start+r+1)*j.outDim]
			c := t[r*a.rows : (r+1)*a.rows]
			if b.panelsBF16 != nil {
				kernel.ExpandLoRABF16(row, c, b.panelsBF16)
			} else {
				kernel.ExpandLoRA(row, c, b.panels)
			}
		}
	}
}

// loraPanels lays m out once for kernel.ExpandLoRA, so that it can serve as
// a LoRA B.
func (m *Matrix) loraPanels() {
	switch {
	case m.panels != nil || m.panelsBF16 != nil:
	case m.bf16 != nil:
		m.panelsBF16 = kernel.LoRAPanelsBF16(m.bf16, m.rows, m.cols)
	default:
		m.panels = kernel.LoRAPanels(m.data, m.rows, m.cols)
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
