package cpu

import (
	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/kernel"
)

// KVCache stores each layer's keys as [block][kvHead][slot][headDim] and values
// transposed as [block][kvHead][headDim][slot], so that one block of one head is
// a contiguous matrix for both attention products.
type KVCache struct {
	k, v              [][]float32
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
	for range layers {
		c.k = append(c.k, make([]float32, n))
		c.v = append(c.v, make([]float32, n))
	}
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
}

// block returns the offset of (block, kvHead) in a layer's K or V.
func (c *KVCache) block(blk int32, kvh int) int {
	return (int(blk)*c.kvHeads + kvh) * c.blockSize * c.headDim
}

func (b *Backend) StoreKV(cache compute.KVCache, layer int, k, v compute.Buffer, slots []int32) {
	c := cache.(*KVCache)
	ks, vs := buf(k), buf(v)
	hd, bs := c.headDim, c.blockSize
	for t, s := range slots {
		blk, off := s/int32(bs), int(s)%bs
		for h := 0; h < c.kvHeads; h++ {
			src := (t*c.kvHeads + h) * hd
			base := c.block(blk, h)
			copy(c.k[layer][base+off*hd:base+(off+1)*hd], ks[src:src+hd])
			vb := c.v[layer][base : base+bs*hd]
			for d := 0; d < hd; d++ {
				vb[d*bs+off] = vs[src+d]
			}
		}
	}
}

// attnTask is one sequence's consecutive tokens [t0, t1) for one key/value head.
type attnTask struct {
	t0, t1, kvh int
}

// attnRows caps the query rows of one task: prefill chunks split into tasks,
// which spreads them over cores and bounds the score scratch.
const attnRows = 64

// Attend computes attention per (sequence, key/value head, chunk of tokens) as
// small matrix products over whole cache blocks: scores = Q·Kᵀ block by block,
// a softmax over each row's own positions, then Σ_blocks P·V. Masked entries are
// exact zeros, and block boundaries are absolute positions, so a token's result is
// the same bits whatever other tokens share its step.
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
	q, s, tmp, p, o []float32
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// firstPos is the first position token t attends to.
func firstPos(a *compute.Attention, t int) int {
	pos := int(a.Positions[t])
	if a.Window > 0 && pos-a.Window+1 > 0 {
		return pos - a.Window + 1
	}
	return 0
}

func (c *KVCache) attend(out, q []float32, layer int, a *compute.Attention, task attnTask, sc *attnScratch) {
	group, hd, bs := a.Heads/a.KVHeads, a.HeadDim, c.blockSize
	rows := (task.t1 - task.t0) * group
	table := a.Tables[a.Seq[task.t0]]
	first, last := firstPos(a, task.t0), int(a.Positions[task.t0])
	for t := task.t0; t < task.t1; t++ {
		first, last = min(first, firstPos(a, t)), max(last, int(a.Positions[t]))
	}
	b0, b1 := first/bs, last/bs
	cols := (b1 - b0 + 1) * bs
	sc.q, sc.s = grow(sc.q, rows*hd), grow(sc.s, rows*cols)
	sc.tmp, sc.p, sc.o = grow(sc.tmp, rows*max(bs, hd)), grow(sc.p, rows*bs), grow(sc.o, rows*hd)
	for r := 0; r < rows; r++ {
		t, h := task.t0+r/group, task.kvh*group+r%group
		copy(sc.q[r*hd:(r+1)*hd], q[(t*a.Heads+h)*hd:(t*a.Heads+h+1)*hd])
	}
	ks, vs := c.k[layer], c.v[layer]
	for blk := b0; blk <= b1; blk++ {
		base := c.block(table[blk], task.kvh)
		kernel.MatMul(nil, sc.tmp[:rows*bs], sc.q, ks[base:base+bs*hd], rows, hd, bs)
		for r := 0; r < rows; r++ {
			copy(sc.s[r*cols+(blk-b0)*bs:r*cols+(blk-b0+1)*bs], sc.tmp[r*bs:(r+1)*bs])
		}
	}
	for r := 0; r < rows; r++ {
		t := task.t0 + r/group
		row := sc.s[r*cols : (r+1)*cols]
		lo, hi := firstPos(a, t)-b0*bs, int(a.Positions[t])-b0*bs+1
		kernel.Scale(row[lo:hi], a.Scale)
		kernel.Softmax(row[lo:hi])
		clear(row[:lo])
		clear(row[hi:])
	}
	clear(sc.o)
	for blk := b0; blk <= b1; blk++ {
		for r := 0; r < rows; r++ {
			copy(sc.p[r*bs:(r+1)*bs], sc.s[r*cols+(blk-b0)*bs:r*cols+(blk-b0+1)*bs])
		}
		base := c.block(table[blk], task.kvh)
		kernel.MatMul(nil, sc.tmp[:rows*hd], sc.p, vs[base:base+bs*hd], rows, bs, hd)
		kernel.Add(sc.o, sc.o, sc.tmp[:rows*hd])
	}
	for r := 0; r < rows; r++ {
		t, h := task.t0+r/group, task.kvh*group+r%group
		copy(out[(t*a.Heads+h)*hd:(t*a.Heads+h+1)*hd], sc.o[r*hd:(r+1)*hd])
	}
}
