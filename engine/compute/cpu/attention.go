package cpu

import (
	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/float16"
	"github.com/graft-ai/graft/engine/kernel"
	"github.com/graft-ai/graft/engine/mapped"
)

// KVCache stores each layer's keys as [block][kvHead][headDim][slot] and values
// as [block][kvHead][slot][headDim]: one block of one head is then a
// contiguous matrix whose rows feed vector lanes directly in both attention
// products (keys by dimension, values by slot; see kernel.AttnScores).
// A half cache (NewKVCacheF16) keeps the same layout in IEEE halves, hk and
// hv, and k and v are nil.
type KVCache struct {
	k, v              [][]float32
	hk, hv            [][]uint16
	nonFinite         bool     // a half cache holds an Inf or NaN: widen exactly, not in SIMD
	row               []uint16 // one token's keys, narrowed (StoreKV, one engine loop at a time)
	blocks, blockSize int
	kvHeads, headDim  int
	scratch           chan *attnScratch
	tasks             []attnTask // reused by Attend, which one engine loop calls at a time
	job               attnJob
}

// attnJob carries one Attend call to the pool without a per-call closure.
type attnJob struct {
	c      *KVCache
	out, q []float32
	layer  int
	a      *compute.Attention
	run    func(lo, hi int)
}

func (j *attnJob) do(lo, hi int) {
	sc := <-j.c.scratch
	for _, task := range j.c.tasks[lo:hi] {
		j.c.attend(j.out, j.q, j.layer, j.a, task, sc)
	}
	j.c.scratch <- sc
}

func (c *KVCache) NumBlocks() int { return c.blocks }
func (c *KVCache) BlockSize() int { return c.blockSize }

func (b *Backend) NewKVCache(layers, blocks, blockSize, kvHeads, headDim int) compute.KVCache {
	c := &KVCache{blocks: blocks, blockSize: blockSize, kvHeads: kvHeads, headDim: headDim}
	n := blocks * blockSize * kvHeads * headDim
	c.k, c.v = planes[float32](c, layers, n), planes[float32](c, layers, n)
	return b.startKV(c)
}

// NewKVCacheF16 allocates a cache that stores keys and values as IEEE halves,
// rounded to nearest even: half the memory and half the bytes each decode
// step reads. Attention widens the halves as it loads them and otherwise
// runs the float32 recipe (kernel.AttnScoresF16), so its results are those
// of a float32 cache holding the rounded keys and values, bit for bit.
func (b *Backend) NewKVCacheF16(layers, blocks, blockSize, kvHeads, headDim int) compute.KVCache {
	c := &KVCache{blocks: blocks, blockSize: blockSize, kvHeads: kvHeads, headDim: headDim}
	n := blocks * blockSize * kvHeads * headDim
	c.hk, c.hv = planes[uint16](c, layers, n), planes[uint16](c, layers, n)
	return b.startKV(c)
}

// planes is one zeroed slice of n elements per layer, outside the Go heap
// (mapped.OffHeap) for as long as c lives.
func planes[T float32 | uint16](c *KVCache, layers, n int) [][]T {
	all := mapped.OffHeap[T](c, layers*n)
	p := make([][]T, layers)
	for l := range p {
		p[l] = all[l*n : (l+1)*n : (l+1)*n]
	}
	return p
}

func (b *Backend) startKV(c *KVCache) *KVCache {
	workers := b.pool.Size()
	c.scratch = make(chan *attnScratch, workers)
	for range workers {
		c.scratch <- &attnScratch{}
	}
	c.job.c = c
	c.job.run = c.job.do
	return c
}

// CopyKVBlock copies a block's keys and values, all heads, in every layer: a
// block of one layer is contiguous in both K and V.
func (b *Backend) CopyKVBlock(cache compute.KVCache, src, dst int32) {
	c := cache.(*KVCache)
	n := c.kvHeads * c.blockSize * c.headDim
	s, d := c.block(src, 0), c.block(dst, 0)
	for l := range c.k {
		copy(c.k[l][d:d+n], c.k[l][s:s+n])
		copy(c.v[l][d:d+n], c.v[l][s:s+n])
	}
	for l := range c.hk {
		copy(c.hk[l][d:d+n], c.hk[l][s:s+n])
		copy(c.hv[l][d:d+n], c.hv[l][s:s+n])
	}
}

// block returns the offset of (block, kvHead) in a layer's K or V.
func (c *KVCache) block(blk int32, kvh int) int {
	return (int(blk)*c.kvHeads + kvh) * c.blockSize * c.headDim
}

func (b *Backend) StoreKV(cache compute.KVCache, layer int, k, v compute.Buffer, slots []int32) {
	c := cache.(*KVCache)
	ks, vs := buf(k), buf(v)
	if c.hk != nil {
		c.storeHalf(layer, ks, vs, slots)
		return
	}
	hd, bs := c.headDim, c.blockSize
	for t, s := range slots {
		blk, off := s/int32(bs), int(s)%bs
		for h := 0; h < c.kvHeads; h++ {
			src := (t*c.kvHeads + h) * hd
			base := c.block(blk, h)
			kb := c.k[layer][base : base+bs*hd]
			for d := 0; d < hd; d++ {
				kb[d*bs+off] = ks[src+d]
			}
			copy(c.v[layer][base+off*hd:base+(off+1)*hd], vs[src:src+hd])
		}
	}
}

// storeHalf is StoreKV for a half cache: each key and value rounds to the
// nearest half, ties to even (kernel.NarrowF16, as float16.Float32ToF16).
func (c *KVCache) storeHalf(layer int, ks, vs []float32, slots []int32) {
	hd, bs, w := c.headDim, c.blockSize, c.kvHeads*c.headDim
	if len(c.row) < w {
		c.row = make([]uint16, w)
	}
	for t, s := range slots {
		blk, off := s/int32(bs), int(s)%bs
		kernel.NarrowF16(c.row, ks[t*w:(t+1)*w])
		c.noteNonFinite(c.row[:w])
		for h := 0; h < c.kvHeads; h++ {
			base := c.block(blk, h)
			kb := c.hk[layer][base : base+bs*hd]
			for d, x := range c.row[h*hd : (h+1)*hd] {
				kb[d*bs+off] = x
			}
			vb := c.hv[layer][base+off*hd : base+(off+1)*hd]
			kernel.NarrowF16(vb, vs[t*w+h*hd:t*w+(h+1)*hd])
			c.noteNonFinite(vb)
		}
	}
}

// noteNonFinite marks the cache when h holds an Inf or NaN, which the SIMD
// widening would turn into a finite value.
func (c *KVCache) noteNonFinite(h []uint16) {
	for _, x := range h {
		if x&0x7c00 == 0x7c00 {
			c.nonFinite = true
			return
		}
	}
}

// kvBlock is one block of one head's keys or values: float32 (f), or IEEE
// halves (h) that the kernels widen as they load them.
type kvBlock struct {
	f []float32
	h []uint16
}

// scores is kernel.AttnScores over the block's keys.
func (b kvBlock) scores(s, q []float32, ld int) {
	if b.h != nil {
		kernel.AttnScoresF16(s, q, b.h, ld)
		return
	}
	kernel.AttnScores(s, q, b.f, ld)
}

// values is kernel.AttnValues over rows [j0, j1) of the block's values.
func (b kvBlock) values(o, p []float32, j0, j1 int) {
	hd := len(o)
	if b.h != nil {
		kernel.AttnValuesF16(o, p, b.h[j0*hd:j1*hd])
		return
	}
	kernel.AttnValues(o, p, b.f[j0*hd:j1*hd])
}

// keys returns the keys of (block blk, kvHead kvh) in layer: the cache's own
// memory, or for a half cache holding an Inf or NaN (which the kernels'
// SIMD widening would make finite) the block widened exactly into dst.
func (c *KVCache) keys(dst []float32, layer int, blk int32, kvh int) kvBlock {
	base, n := c.block(blk, kvh), c.blockSize*c.headDim
	if c.hk == nil {
		return kvBlock{f: c.k[layer][base : base+n]}
	}
	return c.half(dst, c.hk[layer][base:base+n])
}

// values is keys for the values.
func (c *KVCache) values(dst []float32, layer int, blk int32, kvh int) kvBlock {
	base, n := c.block(blk, kvh), c.blockSize*c.headDim
	if c.hv == nil {
		return kvBlock{f: c.v[layer][base : base+n]}
	}
	return c.half(dst, c.hv[layer][base:base+n])
}

func (c *KVCache) half(dst []float32, h []uint16) kvBlock {
	if !c.nonFinite {
		return kvBlock{h: h}
	}
	dst = dst[:len(h)]
	float16.F16ToF32(dst, h)
	return kvBlock{f: dst}
}

// attnTask is one sequence's consecutive tokens [t0, t1) for one key/value head.
type attnTask struct {
	t0, t1, kvh int
}

// attnRows caps the query rows of one task: prefill chunks split into tasks,
// which spreads them over cores and bounds the score scratch.
const attnRows = 64

// Attend computes attention per (sequence, key/value head, chunk of tokens).
// Each token's heads stream the cache blocks of their own positions once for
// the scores and once for the values (kernel.AttnScores, kernel.AttnValues),
// with a softmax over exactly those positions in between: a token's result
// depends on its query, its positions and the cache, never on what else
// shares its step or task, so prefill and decode give it the same bits.
func (b *Backend) Attend(out, q compute.Buffer, cache compute.KVCache, layer int, a *compute.Attention) {
	c := cache.(*KVCache)
	group := a.Heads / a.KVHeads
	perTask := max(1, attnRows/group)
	c.tasks = c.tasks[:0]
	for t0 := 0; t0 < len(a.Seq); {
		t1 := t0 + 1
		for t1 < len(a.Seq) && a.Seq[t1] == a.Seq[t0] {
			t1++
		}
		for s := t0; s < t1; s += perTask {
			for kvh := 0; kvh < a.KVHeads; kvh++ {
				c.tasks = append(c.tasks, attnTask{t0: s, t1: min(s+perTask, t1), kvh: kvh})
			}
		}
		t0 = t1
	}
	j := &c.job
	j.out, j.q, j.layer, j.a = buf(out), buf(q), layer, a
	b.pool.Run(len(c.tasks), j.run)
	j.out, j.q, j.a = nil, nil, nil
}

type attnScratch struct {
	s  []float32 // scores of a task's query rows, a row of whole blocks each
	kv []float32 // a half cache's block of keys or values, widened when it holds Inf or NaN
}

// firstPos is the first position token t attends to.
func firstPos(a *compute.Attention, t int) int {
	pos := int(a.Positions[t])
	if a.Window > 0 && pos-a.Window+1 > 0 {
		return pos - a.Window + 1
	}
	return 0
}

// attend computes the heads sharing key/value head task.kvh for the
// task's tokens. Each token's scores and values cover exactly its own
// positions, block by block in order, so its bits are those it would get
// alone; the tokens only share the loop over blocks, which keeps a block of
// K or V in L1 while all of them (and all heads of the group) use it.
func (c *KVCache) attend(out, q []float32, layer int, a *compute.Attention, task attnTask, sc *attnScratch) {
	group, hd, bs := a.Heads/a.KVHeads, a.HeadDim, c.blockSize
	table := a.Tables[a.Seq[task.t0]]
	first, last := firstPos(a, task.t0), int(a.Positions[task.t0])
	for t := task.t0; t < task.t1; t++ {
		first, last = min(first, firstPos(a, t)), max(last, int(a.Positions[t]))
	}
	b0, b1 := first/bs, last/bs
	cols, rows := (b1-b0+1)*bs, (task.t1-task.t0)*group
	if cap(sc.s) < rows*cols { // doubling: a growing context reallocates rarely
		sc.s = make([]float32, max(rows*cols, 2*cap(sc.s)))
	}
	s := sc.s[:rows*cols]
	if c.nonFinite && len(sc.kv) < bs*hd {
		sc.kv = make([]float32, bs*hd)
	}
	// span is token t's positions as columns [lo, hi) of its score rows.
	span := func(t int) (lo, hi int) { return firstPos(a, t) - b0*bs, int(a.Positions[t]) - b0*bs + 1 }
	for blk := b0; blk <= b1; blk++ {
		c0 := (blk - b0) * bs
		var kb kvBlock
		for t := task.t0; t < task.t1; t++ {
			if lo, hi := span(t); hi <= c0 || lo >= c0+bs {
				continue
			}
			if kb.f == nil && kb.h == nil {
				kb = c.keys(sc.kv, layer, table[blk], task.kvh)
			}
			h0 := t*a.Heads + task.kvh*group
			for g := range group {
				r := ((t-task.t0)*group+g)*cols + c0
				kb.scores(s[r:r+bs], q[(h0+g)*hd:(h0+g+1)*hd], bs)
			}
		}
	}
	for t := task.t0; t < task.t1; t++ {
		lo, hi := span(t)
		h0 := t*a.Heads + task.kvh*group
		for g := range group {
			r := ((t-task.t0)*group + g) * cols
			kernel.Scale(s[r+lo:r+hi], a.Scale)
			kernel.Softmax(s[r+lo : r+hi])
			clear(out[(h0+g)*hd : (h0+g+1)*hd])
		}
	}
	for blk := b0; blk <= b1; blk++ {
		c0 := (blk - b0) * bs
		var vb kvBlock
		for t := task.t0; t < task.t1; t++ {
			lo, hi := span(t)
			j0, j1 := max(lo-c0, 0), min(hi-c0, bs)
			if j0 >= j1 {
				continue
			}
			if vb.f == nil && vb.h == nil {
				vb = c.values(sc.kv, layer, table[blk], task.kvh)
			}
			h0 := t*a.Heads + task.kvh*group
			for g := range group {
				r := ((t-task.t0)*group+g)*cols + c0
				vb.values(out[(h0+g)*hd:(h0+g+1)*hd], s[r+j0:r+j1], j0, j1)
			}
		}
	}
}
