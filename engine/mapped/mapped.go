// Package mapped provides read-only memory-mapped files and zero-copy views
// of their little-endian numbers, so that model weights can alias the page
// cache instead of being copied into the Go heap.
package mapped

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"unsafe"
)

// File is a read-only mapping of a whole file. Data must not be written,
// and it and every slice taken from it are invalid after Close.
type File struct {
	Data  []byte
	unmap func() error
}

// Open maps the file at path read-only. Empty files are refused, since
// there is nothing to map and no format worth reading is empty.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	if size == 0 {
		return nil, &fs.PathError{Op: "map", Path: path, Err: errors.New("file is empty")}
	}
	if int64(int(size)) != size {
		return nil, &fs.PathError{Op: "map", Path: path, Err: fmt.Errorf("file too large to map (%d bytes)", size)}
	}
	data, unmap, err := mapFile(f, int(size))
	if err != nil {
		return nil, &fs.PathError{Op: "map", Path: path, Err: err}
	}
	if data, unmap, err = hugePages(f, data, unmap); err != nil {
		return nil, &fs.PathError{Op: "map", Path: path, Err: err}
	}
	return &File{Data: data, unmap: unmap}, nil
}

// Close releases the mapping. Closing again does nothing.
func (m *File) Close() error {
	if m.unmap == nil {
		return nil
	}
	err := m.unmap()
	m.unmap, m.Data = nil, nil
	return err
}

// Release tells the kernel this process no longer needs the pages that
// lie wholly within b, a slice of the mapping (a tensor copied elsewhere
// on load): they leave the resident set, and a later read of them faults
// them back in from the file, unchanged. Slices outside the mapping are
// ignored, as is everything where there is no mmap.
func (m *File) Release(b []byte) {
	if m == nil || len(b) == 0 || len(m.Data) == 0 {
		return
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(m.Data)))
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if start < base || start+uintptr(len(b)) > base+uintptr(len(m.Data)) {
		return
	}
	page := uintptr(os.Getpagesize())
	lo := (start - base + page - 1) / page * page
	hi := (start - base + uintptr(len(b))) / page * page
	if hi > lo {
		dropPages(m.Data[lo:hi])
	}
}
