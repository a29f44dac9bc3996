package mapped

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRelease: releasing most of a mapped file's bytes takes their pages
// out of the resident set, the bytes still read back as the file holds
// them, and slices that are not the mapping's are ignored.
func TestRelease(t *testing.T) {
	const size = 8 << 20
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i * 7)
	}
	path := filepath.Join(t.TempDir(), "weights")
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var sum byte
	for i := 0; i < size; i += 4096 {
		sum += m.Data[i]
	}
	t.Logf("read every page (sum %d)", sum)
	before := residentKB(t, m.Data)
	if before < 7<<10 {
		t.Skipf("only %d KiB of the 8 MiB file resident after reading it all", before)
	}
	m.Release(m.Data[1<<20+100 : 7<<20])
	m.Release(want) // not the mapping's: ignored
	after := residentKB(t, m.Data)
	if before-after < 5<<10 {
		t.Fatalf("resident %d KiB before the release, %d after: want at least 5 MiB less", before, after)
	}
	for i := range want {
		if m.Data[i] != want[i] {
			t.Fatalf("byte %d reads %d after the release, the file holds %d", i, m.Data[i], want[i])
		}
	}
}

// residentKB is the Rss of b's mappings (a release may have split them).
func residentKB(t *testing.T, b []byte) int64 {
	t.Helper()
	kb, err := smapsKB(b, "Rss")
	if err != nil {
		t.Skip(err)
	}
	return kb
}
