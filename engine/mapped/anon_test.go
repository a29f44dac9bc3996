package mapped

import (
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/graft-ai/graft/internal/testmaps"
)

// TestOffHeap: the values are zeroed and writable, the heap does not grow by
// them, and the mapping goes once its owner is unreachable.
func TestOffHeap(t *testing.T) {
	const n = 16 << 20 // 64 MiB of float32
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	owner := new(struct{ name string })
	v := OffHeap[float32](owner, n)
	runtime.ReadMemStats(&after)
	if len(v) != n {
		t.Fatalf("len %d, want %d", len(v), n)
	}
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Errorf("the heap grew by %d bytes for an off-heap buffer of %d", grew, 4*n)
	}
	for i := 0; i < n; i += 4096 {
		if v[i] != 0 {
			t.Fatalf("value %d is %v, want 0", i, v[i])
		}
		v[i] = float32(i)
	}
	if v[n-4096] != float32(n-4096) {
		t.Fatal("a write did not stick")
	}
	if runtime.GOOS != "linux" {
		return
	}
	addr := uintptr(unsafe.Pointer(&v[0]))
	if !testmaps.Mapped(t, addr) {
		t.Fatalf("%#x is in no mapping of /proc/self/maps", addr)
	}
	v, owner = nil, nil
	for deadline := time.Now().Add(10 * time.Second); testmaps.Mapped(t, addr); {
		if time.Now().After(deadline) {
			t.Fatal("the mapping is still there 10 s after its owner became unreachable")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}
