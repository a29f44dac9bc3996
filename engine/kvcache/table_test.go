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
