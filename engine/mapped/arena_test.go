package mapped

import (
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/graft-ai/graft/internal/testmaps"
)

// TestArena: slices are zeroed, writable, 64-byte aligned and apart; a
// chunk stays mapped while any owner of a slice of it is reachable or the
// arena fills it, and goes once neither holds; a slice larger than a chunk
// gets a chunk of its own. (A chunk unmapped just before another is mapped
// may have its addresses reused, so each check comes before the next map.)
func TestArena(t *testing.T) {
	var a Arena
	type owner struct{ name string }
	o1, o2 := new(owner), new(owner)
	b1, b2 := Alloc(&a, o1, 1000), Alloc(&a, o2, 3<<20)
	for _, b := range [][]byte{b1, b2} {
		if uintptr(unsafe.Pointer(&b[0]))%64 != 0 {
			t.Fatalf("a slice at %p is not 64-byte aligned", &b[0])
		}
		for i := range b {
			if b[i] != 0 {
				t.Fatalf("byte %d is %d, want 0", i, b[i])
			}
		}
	}
	for i := range b1 {
		b1[i] = 1
	}
	for i := range b2 {
		b2[i] = 2
	}
	if b1[len(b1)-1] != 1 || b2[0] != 2 || len(b1) != 1000 || cap(b1) != 1000 {
		t.Fatal("slices overlap or are the wrong size")
	}
	if runtime.GOOS != "linux" {
		return
	}
	first := uintptr(unsafe.Pointer(&b1[0]))
	gone := func(addr uintptr) bool {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		return !testmaps.Mapped(t, addr)
	}
	b1, o1 = nil, nil
	if gone(first) {
		t.Fatal("a chunk went while another owner of it was reachable")
	}
	runtime.KeepAlive(o2)
	b2, o2 = nil, nil
	if gone(first) {
		t.Fatal("the chunk being filled went while the arena fills it")
	}
	a.Close()
	for deadline := time.Now().Add(10 * time.Second); !gone(first); {
		if time.Now().After(deadline) {
			t.Fatal("the chunk is still mapped 10 s after its owners became unreachable and the arena was closed")
		}
	}
	o3 := new(owner)
	big := Alloc(&a, o3, chunkBytes+1) // a chunk of its own, after Close too
	big[chunkBytes] = 3
	second := uintptr(unsafe.Pointer(&big[0]))
	a.Close()
	if gone(second) {
		t.Fatal("a closed arena's chunk went while an owner of it is reachable")
	}
	runtime.KeepAlive(o3)
}
