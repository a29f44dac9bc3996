//go:build !linux

package mapped

import "os"

// hugePages has nothing to ask outside Linux (advise_linux.go).
func hugePages(_ *os.File, data []byte, unmap func() error) ([]byte, func() error, error) {
	return data, unmap, nil
}

// adviseHuge does nothing: no transparent huge pages here.
func adviseHuge([]byte) {}

// dropPages does nothing: MADV_DONTNEED on a shared file mapping is
// Linux's to promise (elsewhere the mapping may be a heap copy).
func dropPages([]byte) {}
