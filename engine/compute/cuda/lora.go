package cuda

import (
	"fmt"

	"github.com/graft-ai/graft/engine/compute"
)

// AddLoRA runs every segment's shrink (t = x·Aᵀ into scratch) in one launch
// and every expand (out += scale·t·Bᵀ) in another: SGMV over multi-row prefill
// segments and BGMV over one-row decode segments alike, ranks mixed.
func (b *Backend) AddLoRA(out, x compute.Buffer, rows int, segs []compute.LoRASegment, scratch compute.Buffer) {
	if len(segs) == 0 {
		return
	}
	a0, b0 := dmat(segs[0].A), dmat(segs[0].B)
	in, outDim, dt := a0.cols, b0.rows, a0.dtype
	ls := make([]loraSeg, len(segs))
	for i, s := range segs {
		a, bm := dmat(s.A), dmat(s.B)
		if a.cols != in || bm.rows != outDim || bm.cols != a.rows || a.dtype != dt || bm.dtype != dt {
			panic(fmt.Sprintf("cuda: lora segment %d has A %dx%d and B %dx%d, want A rank x %d and B %d x rank", i, a.rows, a.cols, bm.rows, bm.cols, in, outDim))
		}
		ls[i] = loraSeg{start: s.Start, end: s.End, rank: a.rows, scale: s.Scale, a: a.ptr, b: bm.ptr}
	}
	table, maxRank, err := segTable(ls, rows)
	if err != nil {
		panic("cuda: " + err.Error())
	}
	if sc := dbuf(scratch); sc.n < rows*maxRank {
		panic(fmt.Sprintf("cuda: lora scratch holds %d floats, need %d", sc.n, rows*maxRank))
	}
	b.enter()
	defer b.leave()
	p := b.scratch("lora_segs", len(table))
	b.upload(p, table)
	t := dbuf(scratch).ptr
	b.launch("lora_shrink_"+dt.String(), dim3{len(segs), blocks1D(maxRank, 8), 1}, grid1(threads), t, dbuf(x).ptr, p, i32(in), i32(maxRank))
	b.launch("lora_expand_"+dt.String(), dim3{len(segs), blocks1D(outDim, threads), 1}, grid1(threads), dbuf(out).ptr, t, p, i32(outDim), i32(maxRank))
}
