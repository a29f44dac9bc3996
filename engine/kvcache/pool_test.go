package kvcache

import (
	"errors"
	"slices"
	"testing"
)

func TestAllocateAllOrNothing(t *testing.T) {
	p := NewBlockPool(4, 16)
	got, ok := p.Allocate(3)
	if !ok || !slices.Equal(got, []int32{0, 1, 2}) {
		t.Fatalf("Allocate(3) = %v, %v; want [0 1 2], true", got, ok)
	}
	if got, ok := p.Allocate(2); ok || got != nil {
		t.Fatalf("Allocate(2) with 1 free = %v, %v; want nil, false", got, ok)
	}
	if p.NumFree() != 1 {
		t.Fatalf("failed Allocate changed NumFree to %d, want 1", p.NumFree())
	}
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestFreeQueueIsFIFO(t *testing.T) {
	p := NewBlockPool(4, 1)
	a, _ := p.Allocate(4)
	if err := p.Free([]int32{a[2], a[0]}); err != nil {
		t.Fatal(err)
	}
	if err := p.Free([]int32{a[3]}); err != nil {
		t.Fatal(err)
	}
	got, ok := p.Allocate(3)
	if !ok || !slices.Equal(got, []int32{2, 0, 3}) {
		t.Fatalf("reuse order = %v, want [2 0 3] (the order of the frees)", got)
	}
}

func TestFreeRejectsDoubleAndForeignIDs(t *testing.T) {
	p := NewBlockPool(3, 8)
	a, _ := p.Allocate(2)
	if err := p.Free(a); err != nil {
		t.Fatal(err)
	}
	err := p.Free([]int32{a[0], -1, 3, 2})
	if !errors.Is(err, ErrBadFree) {
		t.Fatalf("Free of freed/foreign ids = %v, want ErrBadFree", err)
	}
	if p.BadFrees() != 4 {
		t.Fatalf("BadFrees = %d, want 4", p.BadFrees())
	}
	if p.NumFree() != 3 {
		t.Fatalf("NumFree = %d after rejected frees, want 3", p.NumFree())
	}
	if err := p.Check(); err == nil {
		t.Fatal("Check passed after invalid frees")
	}
}

func TestFreeKeepsValidIDsOfABadCall(t *testing.T) {
	p := NewBlockPool(2, 8)
	a, _ := p.Allocate(2)
	if err := p.Free([]int32{a[0], a[0], a[1]}); err == nil {
		t.Fatal("double free in one call not reported")
	}
	if p.NumFree() != 2 || p.BadFrees() != 1 {
		t.Fatalf("NumFree, BadFrees = %d, %d; want 2, 1", p.NumFree(), p.BadFrees())
	}
}

func TestPoolChurnKeepsInvariants(t *testing.T) {
	p := NewBlockPool(7, 2)
	var held [][]int32
	for i := range 200 {
		if n := i%4 + 1; i%3 != 2 {
			if b, ok := p.Allocate(n); ok {
				held = append(held, b)
			}
		} else if len(held) > 0 {
			if err := p.Free(held[0]); err != nil {
				t.Fatal(err)
			}
			held = held[1:]
		}
		if err := p.Check(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	for _, b := range held {
		if err := p.Free(b); err != nil {
			t.Fatal(err)
		}
	}
	if p.NumFree() != p.NumTotal() {
		t.Fatalf("leaked %d blocks", p.NumTotal()-p.NumFree())
	}
}
