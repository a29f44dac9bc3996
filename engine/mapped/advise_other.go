//go:build !linux

package mapped

// adviseHuge has nothing to ask outside Linux (advise_linux.go).
func adviseHuge([]byte) {}
