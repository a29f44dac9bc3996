// Package kvcache hands out fixed-size blocks of KV-cache token slots and keeps
// per-sequence block tables. It works on block numbers only: the model runner owns
// the tensors and stores the K/V of token position p of a sequence in block
// table.Blocks()[p/blockSize] at offset p%blockSize.
//
// Full blocks can be content-addressed (see prefix.go) so that a new sequence
// reuses the K/V another one computed for the same prefix.
//
// Nothing here is safe for concurrent use; the scheduler serializes access.
package kvcache

import (
	"errors"
	"fmt"
)

// none marks the end of the free queue's links.
const none = -1

// BlockPool is a fixed set of blocks with a FIFO free queue: a freed block goes to
// the back and is handed out again only after every block freed before it, so block
// reuse is predictable and a freed block that still caches a prefix lives as long
// as possible (least recently freed is evicted first).
//
// A block may be shared read-only by several tables (sequences forked from one
// prompt, or sharing a cached prefix): it counts its references and returns to
// the free queue when the last one is freed.
type BlockPool struct {
	blockSize int
	refs      []int32 // per block id: tables holding it; 0 when free
	// The free queue is a doubly linked list through prev/next so that a cached
	// block can leave it from the middle when a prefix hit takes it back.
	prev, next []int32
	head, tail int32
	numFree    int
	badFrees   int // double frees and foreign ids rejected by Free
	prefix     prefixIndex
}

// NewBlockPool returns a pool of numBlocks blocks of blockSize token slots each,
// all free, handed out in id order first.
func NewBlockPool(numBlocks, blockSize int) *BlockPool {
	if numBlocks < 0 || int64(numBlocks) > int64(1)<<31-1 {
		panic(fmt.Sprintf("kvcache: block count %d out of range", numBlocks))
	}
	if blockSize <= 0 {
		panic(fmt.Sprintf("kvcache: block size %d must be positive", blockSize))
	}
	p := &BlockPool{
		blockSize: blockSize,
		refs:      make([]int32, numBlocks),
		prev:      make([]int32, numBlocks),
		next:      make([]int32, numBlocks),
		head:      none,
		tail:      none,
	}
	for i := range numBlocks {
		p.pushBack(int32(i))
	}
	return p
}

// BlockSize is the number of token slots per block.
func (p *BlockPool) BlockSize() int { return p.blockSize }

// NumTotal is the number of blocks in the pool.
func (p *BlockPool) NumTotal() int { return len(p.refs) }

// NumFree is the number of blocks that Allocate can hand out now, cached ones
// included: they are evicted when handed out.
func (p *BlockPool) NumFree() int { return p.numFree }

// BadFrees counts the block ids Free rejected (double frees, foreign ids). Each is a
// bug in the caller; tests assert it stays zero (Check does).
func (p *BlockPool) BadFrees() int { return p.badFrees }

// BlocksFor is the number of blocks that hold numTokens token slots.
func (p *BlockPool) BlocksFor(numTokens int) int {
	if numTokens <= 0 {
		return 0
	}
	return (numTokens + p.blockSize - 1) / p.blockSize
}

// Allocate hands out n blocks, or none and false when fewer than n are free: a
// partial allocation would only have to be undone by the caller.
func (p *BlockPool) Allocate(n int) ([]int32, bool) {
	if n <= 0 {
		return nil, true
	}
	if n > p.numFree {
		return nil, false
	}
	return p.allocateAppend(make([]int32, 0, n), n)
}

// allocateAppend is Allocate appending to dst, so block tables grow without a
// temporary slice per allocation. A block handed out forgets the prefix it cached.
func (p *BlockPool) allocateAppend(dst []int32, n int) ([]int32, bool) {
	if n > p.numFree {
		return dst, false
	}
	for range n {
		id := p.head
		p.unlink(id)
		p.prefix.evict(id)
		p.refs[id] = 1
		dst = append(dst, id)
	}
	return dst, true
}

func (p *BlockPool) pushBack(id int32) {
	p.prev[id], p.next[id] = p.tail, none
	if p.tail == none {
		p.head = id
	} else {
		p.next[p.tail] = id
	}
	p.tail = id
	p.numFree++
}

func (p *BlockPool) unlink(id int32) {
	prev, next := p.prev[id], p.next[id]
	if prev == none {
		p.head = next
	} else {
		p.next[prev] = next
	}
	if next == none {
		p.tail = prev
	} else {
		p.prev[next] = prev
	}
	p.prev[id], p.next[id] = none, none
	p.numFree--
}

// ErrBadFree reports block ids that were not handed out by this pool or were
// already freed. The valid ids of the same call are still freed.
var ErrBadFree = errors.New("kvcache: free of a block that is not allocated")

// Free drops one reference to each block; a block whose last reference goes
// returns to the back of the free queue, in the order given. Ids that are out
// of range or not currently allocated are skipped, counted in BadFrees and
// reported in the error: freeing them would hand one block to two sequences
// later.
func (p *BlockPool) Free(blocks []int32) error { return p.free(blocks, false) }

// free is Free, taking the blocks last to first when backward is set.
func (p *BlockPool) free(blocks []int32, backward bool) error {
	var bad []int32
	for i := range blocks {
		id := blocks[i]
		if backward {
			id = blocks[len(blocks)-1-i]
		}
		if !p.Allocated(id) {
			bad = append(bad, id)
			continue
		}
		if p.refs[id]--; p.refs[id] > 0 {
			continue
		}
		p.pushBack(id)
	}
	if len(bad) == 0 {
		return nil
	}
	p.badFrees += len(bad)
	return fmt.Errorf("%w: ids %v (pool of %d blocks)", ErrBadFree, bad, len(p.refs))
}

// Check verifies the pool's bookkeeping: the free queue holds distinct, unallocated,
// in-range ids linked both ways, free + allocated = total, the prefix index
// agrees with the blocks, and no bad free was ever attempted. With
// NumFree() == NumTotal() it proves that no block leaked.
func (p *BlockPool) Check() error {
	if err := p.checkQueue(); err != nil {
		return err
	}
	allocated := 0
	for id, r := range p.refs {
		if r < 0 {
			return fmt.Errorf("kvcache: block %d has %d references", id, r)
		}
		if r > 0 {
			allocated++
		}
	}
	if p.numFree+allocated != len(p.refs) {
		return fmt.Errorf("kvcache: %d free + %d allocated != %d blocks", p.numFree, allocated, len(p.refs))
	}
	if err := p.prefix.check(len(p.refs)); err != nil {
		return err
	}
	if p.badFrees > 0 {
		return fmt.Errorf("kvcache: %d invalid frees were attempted", p.badFrees)
	}
	return nil
}

func (p *BlockPool) checkQueue() error {
	seen := make([]bool, len(p.refs))
	n, prev := 0, int32(none)
	for id := p.head; id != none; id = p.next[id] {
		switch {
		case id < 0 || int(id) >= len(p.refs):
			return fmt.Errorf("kvcache: free queue holds foreign id %d", id)
		case seen[id]:
			return fmt.Errorf("kvcache: block %d is in the free queue twice", id)
		case p.refs[id] != 0:
			return fmt.Errorf("kvcache: block %d is both free and allocated", id)
		case p.prev[id] != prev:
			return fmt.Errorf("kvcache: free queue link broken at block %d", id)
		}
		seen[id], prev = true, id
		n++
	}
	if n != p.numFree || p.tail != prev {
		return fmt.Errorf("kvcache: free queue holds %d blocks, counted %d", n, p.numFree)
	}
	return nil
}

// NumAllocated is the number of blocks handed out and not freed.
func (p *BlockPool) NumAllocated() int { return len(p.refs) - p.numFree }

// Allocated reports whether block id is currently handed out.
func (p *BlockPool) Allocated(id int32) bool {
	return id >= 0 && int(id) < len(p.refs) && p.refs[id] > 0
}

// Refs is the number of tables holding block id (0 when it is free).
func (p *BlockPool) Refs(id int32) int {
	if id < 0 || int(id) >= len(p.refs) {
		return 0
	}
	return int(p.refs[id])
}

// share adds a reference to a block, taking it out of the free queue if it
// was free (a cached prefix block coming back).
func (p *BlockPool) share(id int32) {
	if p.refs[id] == 0 {
		p.unlink(id)
	}
	p.refs[id]++
}
