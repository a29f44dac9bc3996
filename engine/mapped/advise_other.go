//go:build !linux

package mapped

import "os"

// hugePages has nothing to ask outside Linux (advise_linux.go).
func hugePages(_ *os.File, data []byte, unmap func() error) ([]byte, func() error, error) {
	return data, unmap, nil
}
