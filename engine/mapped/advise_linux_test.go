package mapped

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"
)

// TestOpenAsksForHugePages checks that the mapping carries MADV_HUGEPAGE
// ("hg" in its VmFlags), which makes a file read in cold come in as 2 MiB
// pages: decode's weight streams then meet a TLB miss per 2 MiB instead of
// per 4 KiB (BenchmarkDecodeStepQ4KM in engine/kernel).
func TestOpenAsksForHugePages(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage"); err != nil {
		t.Skip("kernel without transparent huge pages")
	}
	m, err := Open(writeTemp(t, make([]byte, 4<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	flags := vmFlags(t, uintptr(unsafe.Pointer(&m.Data[0])))
	if !strings.Contains(" "+flags+" ", " hg ") {
		t.Errorf("mapping's VmFlags %q lack hg (MADV_HUGEPAGE)", flags)
	}
}

// vmFlags returns the VmFlags line of the mapping that starts at addr in
// /proc/self/smaps.
func vmFlags(t *testing.T, addr uintptr) string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	defer f.Close()
	// The mapping's header line starts with its range; its VmFlags line
	// ends its block.
	start := fmt.Sprintf("%x-", addr)
	in := false
	for s := bufio.NewScanner(f); s.Scan(); {
		line := s.Text()
		in = in || strings.HasPrefix(line, start)
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmFlags:"))
		}
	}
	t.Fatalf("no mapping at %#x in /proc/self/smaps", addr)
	return ""
}
