package kvcache

import "testing"

func TestTableAllocatesOnlyMissingBlocks(t *testing.T) {
	p := NewBlockPool(10, 4)
	var tab Table
	for _, c := range []struct{ tokens, blocks int }{{1, 1}, {4, 1}, {5, 2}, {3, 2}, {12, 3}, {0, 3}} {
		if !tab.EnsureCapacity(p, c.tokens) {
			t.Fatalf("EnsureCapacity(%d) failed", c.tokens)
		}
		if tab.NumBlocks() != c.blocks || p.NumAllocated() != c.blocks {
			t.Fatalf("after EnsureCapacity(%d): table %d blocks, pool %d allocated; want %d",
				c.tokens, tab.NumBlocks(), p.NumAllocated(), c.blocks)
		}
	}
	if tab.Capacity() != 12 {
		t.Fatalf("Capacity = %d, want 12", tab.Capacity())
	}
}

func TestTableEnsureCapacityAllOrNothing(t *testing.T) {
	p := NewBlockPool(3, 4)
	var a, b Table
	if !a.EnsureCapacity(p, 8) {
		t.Fatal("first table did not fit")
	}
	if b.EnsureCapacity(p, 8) {
		t.Fatal("second table got 2 blocks from 1 free")
	}
	if b.NumBlocks() != 0 || p.NumFree() != 1 {
		t.Fatalf("failed EnsureCapacity left table %d blocks, pool %d free; want 0, 1", b.NumBlocks(), p.NumFree())
	}
}

func TestTableSlotAndRelease(t *testing.T) {
	p := NewBlockPool(4, 3)
	_, _ = p.Allocate(1) // so the table's ids are not its positions
	var tab Table
	tab.EnsureCapacity(p, 7)
	for pos, want := range []struct {
		block  int32
		offset int
	}{{1, 0}, {1, 1}, {1, 2}, {2, 0}, {2, 1}, {2, 2}, {3, 0}} {
		if b, o := tab.Slot(pos); b != want.block || o != want.offset {
			t.Fatalf("Slot(%d) = %d,%d; want %d,%d", pos, b, o, want.block, want.offset)
		}
	}
	if err := tab.Release(p); err != nil {
		t.Fatal(err)
	}
	if tab.NumBlocks() != 0 || p.NumFree() != 3 {
		t.Fatalf("after Release: table %d blocks, pool %d free; want 0, 3", tab.NumBlocks(), p.NumFree())
	}
	if err := tab.Release(p); err != nil {
		t.Fatalf("releasing an empty table: %v", err)
	}
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestForkSharesFullBlocksAndCopiesThePartialOne: a 10-token prompt in blocks of
// 4 shares its two full blocks, copies the third, and frees each shared block
// only when its last holder lets go.
func TestForkSharesFullBlocksAndCopiesThePartialOne(t *testing.T) {
	p := NewBlockPool(6, 4)
	var parent, child Table
	if !parent.EnsureCapacity(p, 10) {
		t.Fatal("parent did not fit")
	}
	copies, ok := parent.Fork(p, 10, &child, nil)
	if !ok {
		t.Fatal("fork failed with free blocks")
	}
	pb, cb := parent.Blocks(), child.Blocks()
	if len(cb) != 3 || cb[0] != pb[0] || cb[1] != pb[1] || cb[2] == pb[2] {
		t.Fatalf("parent %v child %v: want the first two shared, the third distinct", pb, cb)
	}
	if len(copies) != 1 || copies[0] != (BlockCopy{Src: pb[2], Dst: cb[2]}) {
		t.Fatalf("copies %v, want one from %d to %d", copies, pb[2], cb[2])
	}
	if p.Refs(pb[0]) != 2 || p.Refs(pb[2]) != 1 || p.NumAllocated() != 4 {
		t.Fatalf("refs %d/%d, %d allocated; want 2/1, 4", p.Refs(pb[0]), p.Refs(pb[2]), p.NumAllocated())
	}
	if err := parent.Release(p); err != nil {
		t.Fatal(err)
	}
	if p.NumAllocated() != 3 || !p.Allocated(cb[0]) {
		t.Fatalf("after the parent's release %d allocated; want the child's 3", p.NumAllocated())
	}
	if err := child.Release(p); err != nil {
		t.Fatal(err)
	}
	if err := p.Check(); err != nil || p.NumFree() != 6 {
		t.Fatalf("after both releases: %v, %d free", err, p.NumFree())
	}
}

func TestForkOnABlockBoundaryCopiesNothing(t *testing.T) {
	p := NewBlockPool(2, 4)
	var parent, child Table
	parent.EnsureCapacity(p, 8)
	copies, ok := parent.Fork(p, 8, &child, nil)
	if !ok || len(copies) != 0 || child.NumBlocks() != 2 {
		t.Fatalf("fork at a boundary: ok %v, copies %v, %d blocks", ok, copies, child.NumBlocks())
	}
	var third Table
	parent2 := Table{}
	parent2.blocks, parent2.blockSize = child.blocks[:1], 4
	if _, ok := parent2.Fork(p, 3, &third, nil); ok || third.NumBlocks() != 0 {
		t.Fatal("fork needing a block from an empty pool succeeded")
	}
}

// TestReleaseFreesTailFirstKeepingTheTable: the table's blocks go back last
// first (a prefix's end is evicted before its start), while a slice of them a
// runner may still read keeps its order.
func TestReleaseFreesTailFirstKeepingTheTable(t *testing.T) {
	p := NewBlockPool(3, 2)
	var tab Table
	tab.EnsureCapacity(p, 6)
	held := tab.Blocks()
	if err := tab.Release(p); err != nil {
		t.Fatal(err)
	}
	if held[0] != 0 || held[1] != 1 || held[2] != 2 {
		t.Fatalf("Release reordered the runner's view of the table: %v", held)
	}
	got, _ := p.Allocate(3)
	if got[0] != 2 || got[1] != 1 || got[2] != 0 {
		t.Fatalf("reuse order after Release %v, want [2 1 0]", got)
	}
}
