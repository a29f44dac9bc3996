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
// backing array for reuse. Slices from Blocks keep their (now stale) ids.
func (t *Table) Release(p *BlockPool) error {
	err := p.Free(t.blocks)
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
