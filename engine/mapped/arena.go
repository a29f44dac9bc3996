package mapped

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Arena hands out slices of a few large anonymous mappings in 2 MiB pages,
// for buffers that are many and read as one: a model's packed weights.
// Each of those matrices is well under 2 MiB on a small model (a 768×768
// Q4_K matrix is 332 KB), so a mapping of its own gets 4 KiB pages, where
// decode's streams stop at every page for the hardware prefetcher and a TLB
// miss: the 110M Q4_K_M decode step's packed matmuls in 2 MiB pages ran 0
// to 4.5% faster than in 4 KiB ones (BenchmarkDecodeStepQ4KM, packed vs
// packedbase, five alternated runs). Unwritten pages take no memory, so a
// chunk's unused tail costs at most the 2 MiB page it ends in.
type Arena struct {
	mu   sync.Mutex
	c    *chunk
	free []byte // the rest of c
}

// chunk is one mapping of an Arena, unmapped once every owner of a slice
// of it is unreachable and the arena no longer fills it.
type chunk struct {
	refs    atomic.Int64 // owners alive, and one while the arena fills it
	retired atomic.Bool
	unmap   func() error
}

const chunkBytes = 64 << 20

// hugeSize is the size of a transparent huge page mapped by one page-table
// entry (PMD) with 4 KiB base pages, as on amd64 and arm64.
const hugeSize = 2 << 20

// Alloc returns n zeroed bytes of a, 64-byte aligned, which stay mapped
// while owner is reachable. Where no mapping can be made they are on the
// heap.
func Alloc[O any](a *Arena, owner *O, n int) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.c == nil || len(a.free) < n {
		a.retire()
		if !a.grow(n) {
			return make([]byte, n)
		}
	}
	b := a.free[:n:n]
	a.free = a.free[min((n+63)&^63, len(a.free)):]
	a.c.refs.Add(1)
	runtime.AddCleanup(owner, (*chunk).release, a.c)
	return b
}

// grow maps a new chunk of at least n bytes, aligned to 2 MiB pages.
func (a *Arena) grow(n int) bool {
	size := max(chunkBytes, (n+hugeSize-1)&^(hugeSize-1))
	b, unmap, err := mapAnonymous(size + hugeSize)
	if err != nil {
		return false
	}
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b))) & (hugeSize - 1))
	a.free = b[off : off+size]
	adviseHuge(a.free)
	c := &chunk{unmap: unmap}
	c.refs.Store(1)
	a.c = c
	// An arena dropped without Close lets its chunk go too.
	runtime.AddCleanup(a, (*chunk).retire, c)
	return true
}

// Close stops filling the current chunk: it goes once its slices' owners
// do. Later Allocs map a new one.
func (a *Arena) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.retire()
}

func (a *Arena) retire() {
	if a.c != nil {
		a.c.retire()
	}
	a.c, a.free = nil, nil
}

func (c *chunk) retire() {
	if c.retired.CompareAndSwap(false, true) {
		c.release()
	}
}

func (c *chunk) release() {
	if c.refs.Add(-1) == 0 {
		_ = c.unmap()
	}
}
