//go:build !unix

package mapped

import (
	"errors"
	"io"
	"os"
)

// mapFile falls back to reading the whole file where mmap is unavailable.
func mapFile(f *os.File, size int) ([]byte, func() error, error) {
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}

// mapAnonymous has no mapping to make here; OffHeap uses the heap.
func mapAnonymous(int) ([]byte, func() error, error) {
	return nil, nil, errors.ErrUnsupported
}
