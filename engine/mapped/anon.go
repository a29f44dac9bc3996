package mapped

import (
	"runtime"
	"unsafe"
)

// OffHeap returns n zeroed values of T in memory mapped outside the Go
// heap, unmapped once owner is unreachable. Large buffers that live as long
// as their owner (a KV cache) belong there: the garbage collector lets the
// heap grow to twice what was live at its last cycle (GOGC=100) before it
// runs, so a 1 GiB cache on the heap let a server's request garbage grow its
// RSS by another GiB before any of it was collected (graft serve answering
// 404s: 87 MiB to 954 MiB in 25 s). Pages not yet written take no memory, as
// with make. Where the mapping fails it falls back to the heap.
func OffHeap[T any, O any](owner *O, n int) []T {
	var zero T
	size := n * int(unsafe.Sizeof(zero))
	if size == 0 {
		return nil
	}
	b, unmap, err := mapAnonymous(size)
	if err != nil {
		return make([]T, n)
	}
	runtime.AddCleanup(owner, func(unmap func() error) { unmap() }, unmap)
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n)
}
