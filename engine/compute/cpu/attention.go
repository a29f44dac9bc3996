package cpu

import (
	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/kernel"
)

// KVCache stores, per layer, keys and values as [slot][kvHead][headDim].
type KVCache struct {
	k, v      [][]float32
	blocks    int
	blockSize int
	width     int // kvHeads*headDim
	scratch   chan []float32
}

func (c *KVCache) NumBlocks() int { return c.blocks }
func (c *KVCache) BlockSize() int { return c.blockSize }

func (b *Backend) NewKVCache(layers, blocks, blockSize, kvHeads, headDim int) compute.KVCache {
	c := &KVCache{blocks: blocks, blockSize: blockSize, width: kvHeads * headDim}
	n := blocks * blockSize * c.width
	for range layers {
		c.k = append(c.k, make([]float32, n))
		c.v = append(c.v, make([]float32, n))
	}
	// One score buffer per concurrent attention task, sized for the longest
	// possible sequence, so attention never allocates.
	workers := b.pool.Size() * 4
	c.scratch = make(chan []float32, workers)
	for range workers {
		c.scratch <- make([]float32, blocks*blockSize)
	}
	return c
}

func (b *Backend) StoreKV(cache compute.KVCache, layer int, k, v compute.Buffer, slots []int32) {
	c := cache.(*KVCache)
	ks, vs, w := buf(k), buf(v), c.width
	for t, s := range slots {
		copy(c.k[layer][int(s)*w:(int(s)+1)*w], ks[t*w:(t+1)*w])
		copy(c.v[layer][int(s)*w:(int(s)+1)*w], vs[t*w:(t+1)*w])
	}
}

// Attend computes each (token, head) pair independently, so a token's result does
// not depend on the rest of the batch.
func (b *Backend) Attend(out, q compute.Buffer, cache compute.KVCache, layer int, a *compute.Attention) {
	c := cache.(*KVCache)
	o, qs := buf(out), buf(q)
	tasks := len(a.Positions) * a.Heads
	b.pool.Run(tasks, func(lo, hi int) {
		scores := <-c.scratch
		for task := lo; task < hi; task++ {
			t, h := task/a.Heads, task%a.Heads
			off := (t*a.Heads + h) * a.HeadDim
			attendOne(o[off:off+a.HeadDim], qs[off:off+a.HeadDim], c, layer, a, t, h, scores)
		}
		c.scratch <- scores
	})
}

func attendOne(out, q []float32, c *KVCache, layer int, a *compute.Attention, t, h int, scores []float32) {
	pos := int(a.Positions[t])
	first := 0
	if a.Window > 0 && pos-a.Window+1 > 0 {
		first = pos - a.Window + 1
	}
	table := a.Tables[a.Seq[t]]
	kvOff := (h / (a.Heads / a.KVHeads)) * a.HeadDim
	bs := c.blockSize
	ks, vs := c.k[layer], c.v[layer]
	n := pos - first + 1
	sc := scores[:n]
	for j := first; j <= pos; j++ {
		slot := int(table[j/bs])*bs + j%bs
		base := slot*c.width + kvOff
		sc[j-first] = kernel.Dot(q, ks[base:base+a.HeadDim]) * a.Scale
	}
	kernel.Softmax(sc)
	clear(out)
	for j := first; j <= pos; j++ {
		slot := int(table[j/bs])*bs + j%bs
		base := slot*c.width + kvOff
		kernel.Axpy(out, sc[j-first], vs[base:base+a.HeadDim])
	}
}
