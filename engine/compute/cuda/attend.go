package cuda

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/graft-ai/graft/engine/compute"
)

// Attend runs paged attention as attn_partial over (split, head, query tile)
// and attn_combine over (token, head); see kernels/attention.cu for why a
// token's result does not depend on the batch or on prefill versus decode.
func (b *Backend) Attend(out, q compute.Buffer, cache compute.KVCache, layer int, a *compute.Attention) {
	n := len(a.Positions)
	if n == 0 {
		return
	}
	if a.HeadDim > maxHeadDim || a.KVHeads == 0 || a.Heads%a.KVHeads != 0 {
		panic(fmt.Sprintf("cuda: attention with head size %d (max %d), %d heads over %d kv heads", a.HeadDim, maxHeadDim, a.Heads, a.KVHeads))
	}
	b.enter()
	defer b.leave()
	c := cache.(*KVCache)
	splits := attnSplits(a.Positions)
	tiles, warps := queryTiles(a.Seq, a.Positions)
	flat, stride := flattenTables(a.Tables)
	partial := b.scratch("attn_partial", n*a.Heads*splits*(a.HeadDim+2)*4)
	args := attnArgs{
		q: dbuf(q).ptr, pos: b.uploadInts("attn_pos", a.Positions), seq: b.uploadInts("attn_seq", a.Seq),
		tables: b.uploadInts("attn_tables", flat), qtiles: b.uploadInts("attn_tiles", tiles), partial: partial,
		tableStride: stride, blockSize: c.blockSize, window: a.Window, heads: a.Heads, kvHeads: a.KVHeads,
		headDim: a.HeadDim, maxSplits: splits, scale: a.Scale,
	}
	b.launch("attn_partial_"+c.dtype.String(), dim3{splits, a.Heads, len(tiles) / 2}, grid1(32*warps),
		raw(args.encode()), c.k[layer].ptr, c.v[layer].ptr)
	b.launch("attn_combine", dim3{n, a.Heads, 1}, grid1(32), dbuf(out).ptr, partial, args.pos, i32(a.Heads), i32(a.HeadDim), i32(splits))
}

// attnArgs mirrors struct AttnArgs in kernels/attention.cu.
type attnArgs struct {
	q, pos, seq, tables, qtiles, partial                               uintptr
	tableStride, blockSize, window, heads, kvHeads, headDim, maxSplits int
	scale                                                              float32
}

// attnArgsBytes is sizeof(AttnArgs): six pointers, seven ints, one float.
const attnArgsBytes = 80

func (a *attnArgs) encode() []byte {
	b := make([]byte, attnArgsBytes)
	for i, p := range []uintptr{a.q, a.pos, a.seq, a.tables, a.qtiles, a.partial} {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(p))
	}
	for i, v := range []int{a.tableStride, a.blockSize, a.window, a.heads, a.kvHeads, a.headDim, a.maxSplits} {
		binary.LittleEndian.PutUint32(b[48+4*i:], uint32(v))
	}
	binary.LittleEndian.PutUint32(b[76:], math.Float32bits(a.scale))
	return b
}
