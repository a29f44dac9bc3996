package benchmark

import (
	"syscall"
	"unsafe"
)

// wordBuffer returns n words outside the Go heap, asked for as 2 MiB pages
// (MADV_HUGEPAGE), and a function that frees them. The weights a decode
// step reads are mapped that way (engine/mapped), and 2 MiB pages read
// faster than 4 KiB ones, so a bound read on the Go heap's small pages
// would sit below what the weights can reach. Without transparent huge
// pages both read 4 KiB pages alike.
func wordBuffer(n int) ([]uint64, func()) {
	b, err := syscall.Mmap(-1, 0, n*8, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([]uint64, n), func() {}
	}
	_ = syscall.Madvise(b, syscall.MADV_HUGEPAGE)
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), n), func() { _ = syscall.Munmap(b) }
}
