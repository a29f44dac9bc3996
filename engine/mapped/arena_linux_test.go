package mapped

import (
	"testing"
)

// TestArenaHugePages: where transparent huge pages are on, an arena's
// slices written through are mapped as 2 MiB pages.
func TestArenaHugePages(t *testing.T) {
	if !fileTHP() {
		t.Skip("transparent huge pages are off on this machine")
	}
	var a Arena
	defer a.Close()
	owner := new(int)
	b := Alloc(&a, owner, 4<<20)
	for i := range b {
		b[i] = 1
	}
	kb, err := smapsKB(b, "AnonHugePages") // of the chunk's mapping, of which only b was written
	if err != nil {
		t.Fatal(err)
	}
	if kb < 2048 {
		t.Fatalf("AnonHugePages %d kB after writing 4 MiB: the arena's pages are not 2 MiB ones", kb)
	}
	t.Logf("AnonHugePages %d kB", kb)
}
