package cuda

import (
	"fmt"

	"github.com/graft-ai/graft/engine/compute"
)

func (b *Backend) Embed(out compute.Buffer, table compute.Matrix, tokens []int32) {
	b.enter()
	defer b.leave()
	t := dmat(table)
	ids := b.uploadInts("tokens", tokens)
	b.launch("embed_"+t.dtype.String(), grid1(len(tokens)), grid1(threads), dbuf(out).ptr, t.ptr, ids, i32(t.cols))
}

func (b *Backend) AddBias(x compute.Buffer, bias compute.Matrix, rows int) {
	b.enter()
	defer b.leave()
	m := dmat(bias)
	n := m.rows * m.cols
	b.launch("add_bias_"+m.dtype.String(), grid1(blocks1D(rows*n, threads)), grid1(threads), dbuf(x).ptr, m.ptr, i32(rows), i32(n))
}

func (b *Backend) RMSNorm(out, x compute.Buffer, weight compute.Matrix, rows int, eps float32) {
	b.enter()
	defer b.leave()
	w := dmat(weight)
	b.launch("rmsnorm_"+w.dtype.String(), grid1(rows), grid1(threads), dbuf(out).ptr, dbuf(x).ptr, w.ptr, i32(w.rows*w.cols), f32(eps))
}

func (b *Backend) RoPE(x compute.Buffer, rows, heads, headDim int, positions []int32, r *compute.Rope) {
	b.rope("rope_half", x, rows, heads, headDim, positions, r)
}

// RoPEInterleaved rotates pairs (2i, 2i+1), the layout of GGUF/Meta q and k
// rows. The model de-interleaves GGUF weights at load and calls RoPE; this is
// for callers that keep the original layout.
func (b *Backend) RoPEInterleaved(x compute.Buffer, rows, heads, headDim int, positions []int32, r *compute.Rope) {
	b.rope("rope_interleaved", x, rows, heads, headDim, positions, r)
}

func (b *Backend) rope(kernel string, x compute.Buffer, rows, heads, headDim int, positions []int32, r *compute.Rope) {
	if len(r.InvFreq) < headDim/2 {
		panic(fmt.Sprintf("cuda: rope has %d frequencies for head size %d", len(r.InvFreq), headDim))
	}
	b.enter()
	defer b.leave()
	pos := b.uploadInts("rope_pos", positions[:rows])
	b.launch(kernel, dim3{rows, heads, 1}, grid1(max(headDim/2, 1)), dbuf(x).ptr, pos, b.invFreq(r), i32(heads), i32(headDim), f32(r.MScale))
}

// invFreq uploads a rope's frequencies once per distinct table.
func (b *Backend) invFreq(r *compute.Rope) uintptr {
	key := &r.InvFreq[0]
	if d := b.freqs[key]; d != nil {
		return d.ptr
	}
	d := b.newDevBuf(8 * len(r.InvFreq))
	host := make([]byte, 8*len(r.InvFreq))
	for i, f := range r.InvFreq {
		putF64(host[8*i:], f)
	}
	b.upload(d.ptr, host)
	b.freqs[key] = d
	return d.ptr
}

func (b *Backend) SiLUMul(out, gate, up compute.Buffer, n int) {
	b.enter()
	defer b.leave()
	b.launch("silu_mul", grid1(blocks1D(n, threads)), grid1(threads), dbuf(out).ptr, dbuf(gate).ptr, dbuf(up).ptr, i64(n))
}

func (b *Backend) Add(out, x, y compute.Buffer, n int) {
	b.enter()
	defer b.leave()
	b.launch("add", grid1(blocks1D(n, threads)), grid1(threads), dbuf(out).ptr, dbuf(x).ptr, dbuf(y).ptr, i64(n))
}

func (b *Backend) Gather(out, x compute.Buffer, idx []int32, width int) {
	b.enter()
	defer b.leave()
	p := b.uploadInts("gather", idx)
	b.launch("gather_rows", grid1(len(idx)), grid1(threads), dbuf(out).ptr, dbuf(x).ptr, p, i32(width))
}

// CopyKVBlock copies a block's slots in every layer, device to device: a
// block is contiguous in the [slot][kvHead][headDim] layout.
func (b *Backend) CopyKVBlock(cache compute.KVCache, src, dst int32) {
	b.enter()
	defer b.leave()
	c := cache.(*KVCache)
	n := uintptr(c.blockSize * c.width * c.dtype.size())
	for l := range c.k {
		for _, buf := range []*devBuf{c.k[l], c.v[l]} {
			b.must(b.d.call("cuMemcpyDtoDAsync_v2", buf.ptr+uintptr(dst)*n, buf.ptr+uintptr(src)*n, n, b.stream))
		}
	}
}

func (b *Backend) StoreKV(cache compute.KVCache, layer int, k, v compute.Buffer, slots []int32) {
	b.enter()
	defer b.leave()
	c := cache.(*KVCache)
	s := b.uploadInts("kv_slots", slots)
	b.launch("store_kv_"+c.dtype.String(), grid1(len(slots)), grid1(threads), c.k[layer].ptr, c.v[layer].ptr, dbuf(k).ptr, dbuf(v).ptr, s, i32(c.width))
}
