//go:build !linux

package benchmark

// wordBuffer returns n words on the Go heap (hugebuf_linux.go asks for 2
// MiB pages where it can).
func wordBuffer(n int) ([]uint64, func()) { return make([]uint64, n), func() {} }
