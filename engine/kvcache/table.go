package kvcache

// Table is one sequence's block table: the blocks holding its token slots, in
// position order. The zero Table is empty and ready to use.
type Table struct {
	blocks    []int32
	blockSize int
}

// EnsureCapacity grows the table so that it covers numTokens token slots,
// allocating only the missing blocks, all or nothing. It reports false, leaving the
// table unchanged, when the pool has too few free blocks.
func (t *Table) EnsureCapacity(p *BlockPool, numTokens int) bool {
	need := p.BlocksFor(numTokens) - len(t.blocks)
	if need <= 0 {
		return true
	}
	blocks, ok := p.allocateAppend(t.blocks, need)
	if !ok {
		return false
	}
	t.blocks, t.blockSize = blocks, p.blockSize
	return true
}

// Release returns every block to the pool and empties the table, keeping its
// backing array for reuse. Slices from Blocks keep their (now stale) ids, in
// order: a runner may still be reading them. The last block is freed first: a
// cached prefix is useless without its start, so its end should be evicted
// first.
func (t *Table) Release(p *BlockPool) error {
	err := p.free(t.blocks, true)
	t.blocks = t.blocks[:0]
	return err
}

// Blocks is the table's block ids in position order. The slice aliases the table
// and is valid until the table next grows or is released.
func (t *Table) Blocks() []int32 { return t.blocks }

// NumBlocks is the number of blocks the table holds.
func (t *Table) NumBlocks() int { return len(t.blocks) }

// Capacity is the number of token slots the table covers.
func (t *Table) Capacity() int { return len(t.blocks) * t.blockSize }

// Slot is where token position pos lives: its block id and the offset in it.
// pos must be below Capacity.
func (t *Table) Slot(pos int) (block int32, offset int) {
	return t.blocks[pos/t.blockSize], pos % t.blockSize
}

// BlockCopy asks the model runner to copy the K/V of every layer in block Src
// into block Dst before it runs the next step.
type BlockCopy struct{ Src, Dst int32 }

// Fork makes the empty table dst continue from this table's first numTokens
// positions, as parallel sampling does after prefilling a prompt once: the
// blocks those positions fill completely are shared (never written again: a
// sequence writes only past its computed tokens), and a partly filled last
// block, which each sequence goes on writing, gets a fresh block in dst whose
// copy is appended to copies. It reports false, leaving dst empty, when no block
// is free for that copy.
func (t *Table) Fork(p *BlockPool, numTokens int, dst *Table, copies []BlockCopy) ([]BlockCopy, bool) {
	full, partial := numTokens/p.blockSize, numTokens%p.blockSize != 0
	var blk int32
	if partial {
		got, ok := p.allocateAppend(nil, 1)
		if !ok {
			return copies, false
		}
		blk = got[0]
		copies = append(copies, BlockCopy{Src: t.blocks[full], Dst: blk})
	}
	dst.blocks, dst.blockSize = append(dst.blocks[:0], t.blocks[:full]...), p.blockSize
	for _, b := range dst.blocks {
		p.share(b)
	}
	if partial {
		dst.blocks = append(dst.blocks, blk)
	}
	return copies, true
}
