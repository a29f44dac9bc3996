// Package testmaps tells tests whether an address is mapped in this
// process, from Linux's /proc/self/maps: memory a test expects to be
// unmapped once its owner is gone.
package testmaps

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// Mapped reports whether addr lies in one of this process's mappings; it
// skips the test where the maps cannot be read (not Linux).
func Mapped(t testing.TB, addr uintptr) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skip(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		var lo, hi uintptr
		if _, err := fmt.Sscanf(l, "%x-%x", &lo, &hi); err == nil && lo <= addr && addr < hi {
			return true
		}
	}
	return false
}
