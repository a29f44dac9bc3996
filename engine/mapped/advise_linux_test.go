package mapped

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
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
// /proc/self/smaps. The block of a mapping starts with its range and ends
// with that line.
func vmFlags(t *testing.T, addr uintptr) string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start, in := fmt.Sprintf("%x-", addr), false
	for s := bufio.NewScanner(f); s.Scan(); {
		line := s.Text()
		if !in {
			in = strings.HasPrefix(line, start)
			continue
		}
		if v, found := strings.CutPrefix(line, "VmFlags:"); found {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no VmFlags for the mapping at %#x in /proc/self/smaps", addr)
	return ""
}

// TestOpenRereadsFileCachedSmall: a model written in small pieces (as
// llama.cpp's quantizer writes one) sits in the page cache in 4 KiB pages,
// which MADV_HUGEPAGE cannot change; Open reads such a file again so that
// it maps as 2 MiB pages, with the same bytes.
func TestOpenRereadsFileCachedSmall(t *testing.T) {
	path, content := cachedSmall(t)
	m, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !bytes.Equal(m.Data, content) {
		t.Fatal("the mapping read again differs from the file")
	}
	kb, err := smapsKB(m.Data, "FilePmdMapped")
	if err != nil {
		t.Fatal(err)
	}
	if kb*1024 < int64(len(content))/2 {
		t.Errorf("%d of %d KiB mapped as 2 MiB pages", kb, len(content)>>10)
	}
}

// TestOpenRereadsFilePartlyCachedSmall: a file cached in 2 MiB pages but
// for its last quarter (read in by another process in 4 KiB pages, say) is
// read again too, so that all of it maps as 2 MiB pages: a sample in its
// middle alone would find a 2 MiB page and leave the rest small.
func TestOpenRereadsFilePartlyCachedSmall(t *testing.T) {
	path, content := cachedSmall(t)
	const head = 18 << 20 // read back cold in 2 MiB pages; the rest stays as written
	if kb := cacheHeadHuge(t, path, len(content), head); kb*1024 < head {
		t.Skipf("the file's head read cold mapped %d KiB as 2 MiB pages, not %d", kb, head>>10)
	}
	m, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := unix.Madvise(m.Data, unix.MADV_POPULATE_READ); err != nil {
		t.Skipf("MADV_POPULATE_READ: %v", err)
	}
	if !bytes.Equal(m.Data, content) {
		t.Fatal("the mapping read again differs from the file")
	}
	kb, err := smapsKB(m.Data, "FilePmdMapped")
	if err != nil {
		t.Fatal(err)
	}
	if kb*1024 < int64(len(content)) {
		t.Errorf("%d of %d KiB mapped as 2 MiB pages", kb, len(content)>>10)
	}
}

// cachedSmall writes a 24 MiB file 4 KiB at a time, so that the page cache
// holds it in 4 KiB pages, and returns it and its bytes; it skips where a
// file read cold does not map as 2 MiB pages (the control) or a written
// one does already.
func cachedSmall(t *testing.T) (string, []byte) {
	t.Helper()
	content := make([]byte, 24<<20)
	for i := range content {
		content[i] = byte(i*7 + i>>12)
	}
	if !coldReadMapsHuge(t, writeTemp(t, content)) {
		t.Skip("a file read cold does not map as 2 MiB pages here (no THP, or a filesystem without large folios)")
	}
	path := writeSmall(t, content)
	if plainMapsHuge(t, path) {
		t.Skip("this kernel caches a written file in 2 MiB pages already; there is nothing to read again")
	}
	return path, content
}

// cacheHeadHuge drops the first head bytes of path (size bytes) from the
// page cache and reads them back through a mapping that asks for 2 MiB
// pages, and returns how many KiB of them mapped so.
func cacheHeadHuge(t *testing.T, path string, size, head int) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, int64(head), unix.FADV_DONTNEED); err != nil {
		t.Skipf("fadvise: %v", err)
	}
	data, unmap, err := mapHuge(f, size)
	if err != nil {
		t.Fatal(err)
	}
	defer unmap()
	if err := unix.Madvise(data[:head], unix.MADV_POPULATE_READ); err != nil {
		t.Skipf("MADV_POPULATE_READ: %v", err)
	}
	kb, err := smapsKB(data, "FilePmdMapped")
	if err != nil {
		t.Fatal(err)
	}
	return kb
}

// writeSmall writes content to a new file 4 KiB at a time.
func writeSmall(t *testing.T, content []byte) string {
	path := filepath.Join(t.TempDir(), "small.bin")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for b := range slices.Chunk(content, 4<<10) {
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// coldReadMapsHuge drops path from the page cache, then maps it with
// MADV_HUGEPAGE and reports whether its middle maps as a 2 MiB page.
func coldReadMapsHuge(t *testing.T, path string) bool {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := dropCached(f); err != nil {
		t.Skipf("fadvise: %v", err)
	}
	return plainMapsHuge(t, path)
}

// plainMapsHuge maps path with MADV_HUGEPAGE only (no reread) and reports
// whether its middle maps as a 2 MiB page.
func plainMapsHuge(t *testing.T, path string) bool {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	data, unmap, err := mapHuge(f, int(fi.Size()))
	if err != nil {
		t.Fatal(err)
	}
	defer unmap()
	samples := hugeSamples(data)
	if samples == nil {
		t.Skip("the mapping is not 2 MiB-aligned here")
	}
	huge, ok := readHuge(data, samples[len(samples)/2:len(samples)/2+1])
	if !ok {
		t.Skip("cannot tell page sizes here (no MADV_POPULATE_READ or smaps)")
	}
	return huge
}
