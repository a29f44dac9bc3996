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

// Contains reports whether addr lies in one of this process's mappings; the
// error is the file's when it cannot be read (not Linux).
func Contains(addr uintptr) (bool, error) {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return false, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		var lo, hi uintptr
		if _, err := fmt.Sscanf(l, "%x-%x", &lo, &hi); err == nil && lo <= addr && addr < hi {
			return true, nil
		}
	}
	return false, nil
}

// Mapped is Contains for a test, which it skips where the maps cannot be read.
func Mapped(t testing.TB, addr uintptr) bool {
	t.Helper()
	ok, err := Contains(addr)
	if err != nil {
		t.Skip(err)
	}
	return ok
}
