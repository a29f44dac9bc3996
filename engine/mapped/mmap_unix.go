//go:build unix

package mapped

import (
	"os"
	"syscall"
)

func mapFile(f *os.File, size int) ([]byte, func() error, error) {
	data, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}

func mapAnonymous(size int) ([]byte, func() error, error) {
	data, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}

// dropPages unmaps a file mapping's pages from this process (a shared
// file mapping's pages stay in the page cache and read back unchanged).
// The range first loses the mapping's MADV_HUGEPAGE: a read of a tensor
// that shares a 2 MiB page with it (a layer's norm beside its weights)
// would otherwise map the whole 2 MiB page back in.
func dropPages(b []byte) {
	_ = syscall.Madvise(b, syscall.MADV_NOHUGEPAGE)
	_ = syscall.Madvise(b, syscall.MADV_DONTNEED)
}
