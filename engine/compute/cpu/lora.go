package cpu

import (
	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/kernel"
)

// AddLoRA runs each segment on one worker with the caller-side MatMul, so a
// row's delta is computed by the same code whatever segment it falls in.
func (b *Backend) AddLoRA(out, x compute.Buffer, rows int, segs []compute.LoRASegment, scratch compute.Buffer) {
	if len(segs) == 0 {
		return
	}
	o, xs, sc := buf(out), buf(x), buf(scratch)
	maxRank := 0
	for _, s := range segs {
		maxRank = max(maxRank, mat(s.A).rows)
	}
	in, outDim := mat(segs[0].A).cols, mat(segs[0].B).rows
	shrunk, expanded := sc[:rows*maxRank], sc[rows*maxRank:rows*(maxRank+outDim)]
	b.pool.Run(len(segs), func(lo, hi int) {
		for _, s := range segs[lo:hi] {
			a, bm, n := mat(s.A), mat(s.B), s.End-s.Start
			t := shrunk[s.Start*maxRank : s.Start*maxRank+n*a.rows]
			e := expanded[s.Start*outDim : s.End*outDim]
			kernel.MatMul(nil, t, xs[s.Start*in:s.End*in], a.data, n, in, a.rows)
			kernel.MatMul(nil, e, t, bm.data, n, a.rows, outDim)
			for r := 0; r < n; r++ {
				kernel.Axpy(o[(s.Start+r)*outDim:(s.Start+r+1)*outDim], s.Scale, e[r*outDim:(r+1)*outDim])
			}
		}
	})
}
