package cuda

import (
	"fmt"
	"math/bits"
	"sync"
)

// pool is the device memory pool: allocations are rounded up to a size class
// (powers of two from 256 bytes, then multiples of 2 MiB) and freed blocks wait
// on a per-class free list for reuse instead of going back to the driver, so a
// steady state (adapters swapped in and out, buffers of recurring sizes) makes
// no driver calls. Reuse is safe without events because all work is ordered on
// the backend's one stream. The pool has no driver calls of its own: alloc and
// release are injected, which is what lets its accounting be tested on the CPU.
type pool struct {
	mu      sync.Mutex
	alloc   func(bytes uint64) (uintptr, error)
	release func(ptr uintptr)
	free    map[uint64][]uintptr // size class -> idle blocks
	sizes   map[uintptr]uint64   // live block -> its class
	stats   PoolStats
	limit   uint64 // 0: no limit beyond the device's
	closed  bool   // after releaseAll: late cleanups are ignored
}

// PoolStats is the pool's accounting, in bytes of size classes.
type PoolStats struct {
	InUse    uint64 // held by live buffers and matrices
	Idle     uint64 // freed, kept for reuse
	Peak     uint64 // the largest InUse seen
	Allocs   uint64 // blocks handed out
	Frees    uint64 // blocks returned
	Reserved uint64 // obtained from the driver: InUse + Idle
}

const (
	minClass   = 256
	largeClass = 2 << 20
)

// sizeClass rounds n bytes up to its class.
func sizeClass(n uint64) uint64 {
	if n <= minClass {
		return minClass
	}
	if n <= largeClass {
		return 1 << bits.Len64(n-1)
	}
	return (n + largeClass - 1) / largeClass * largeClass
}

func newPool(alloc func(uint64) (uintptr, error), release func(uintptr), limit uint64) *pool {
	return &pool{alloc: alloc, release: release, free: map[uint64][]uintptr{}, sizes: map[uintptr]uint64{}, limit: limit}
}

// get returns a block of at least n bytes.
func (p *pool) get(n uint64) (uintptr, error) {
	class := sizeClass(n)
	p.mu.Lock()
	defer p.mu.Unlock()
	if idle := p.free[class]; len(idle) > 0 {
		ptr := idle[len(idle)-1]
		p.free[class] = idle[:len(idle)-1]
		p.stats.Idle -= class
		p.take(ptr, class)
		return ptr, nil
	}
	if p.limit > 0 && p.stats.Reserved+class > p.limit {
		p.trim()
		if p.stats.Reserved+class > p.limit {
			return 0, fmt.Errorf("device memory pool: %d bytes more would exceed its limit of %d (%d in use)", class, p.limit, p.stats.InUse)
		}
	}
	ptr, err := p.alloc(class)
	if err != nil {
		// Idle blocks of other classes may be what stands in the way.
		p.trim()
		if ptr, err = p.alloc(class); err != nil {
			return 0, fmt.Errorf("device memory pool: allocating %d bytes: %w", class, err)
		}
	}
	p.stats.Reserved += class
	p.take(ptr, class)
	return ptr, nil
}

func (p *pool) take(ptr uintptr, class uint64) {
	p.sizes[ptr] = class
	p.stats.InUse += class
	p.stats.Allocs++
	p.stats.Peak = max(p.stats.Peak, p.stats.InUse)
}

// put returns a block for reuse. Returning a block twice or one the pool did
// not hand out is a bug in the caller and panics.
func (p *pool) put(ptr uintptr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	class, ok := p.sizes[ptr]
	if !ok {
		panic(fmt.Sprintf("cuda: freeing device pointer %#x the pool does not hold", ptr))
	}
	delete(p.sizes, ptr)
	p.free[class] = append(p.free[class], ptr)
	p.stats.InUse -= class
	p.stats.Idle += class
	p.stats.Frees++
}

// trim gives idle blocks back to the driver. Callers hold mu.
func (p *pool) trim() {
	for class, idle := range p.free {
		for _, ptr := range idle {
			p.release(ptr)
			p.stats.Reserved -= class
			p.stats.Idle -= class
		}
		delete(p.free, class)
	}
}

// Stats returns a snapshot of the accounting.
func (p *pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// releaseAll frees every block, live or idle (on Close).
func (p *pool) releaseAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trim()
	for ptr, class := range p.sizes {
		p.release(ptr)
		p.stats.Reserved -= class
		p.stats.InUse -= class
	}
	clear(p.sizes)
	p.closed = true
}

// AdapterSlotCapacity is how many adapters of bytesPerAdapter fit in fraction
// (--adapter-memory-fraction) of the device memory left free after the base
// model and the KV cache (freeBytes): the engine sizes its active tier with it.
func AdapterSlotCapacity(freeBytes uint64, fraction float64, bytesPerAdapter uint64) int {
	if fraction <= 0 || bytesPerAdapter == 0 {
		return 0
	}
	budget := uint64(float64(freeBytes) * min(fraction, 1))
	return int(budget / bytesPerAdapter)
}

// AdapterBytes is the device size of one adapter: for each targeted projection
// of each layer, A (rank x in) and B (out x rank) in elemBytes, each rounded to
// its pool size class.
func AdapterBytes(layers int, shapes [][2]int, rank int, elemBytes uint64) uint64 {
	var per uint64
	for _, s := range shapes {
		out, in := uint64(s[0]), uint64(s[1])
		per += sizeClass(uint64(rank)*in*elemBytes) + sizeClass(out*uint64(rank)*elemBytes)
	}
	return per * uint64(layers)
}
