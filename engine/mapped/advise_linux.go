package mapped

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// minReread is the smallest file worth reading again to get 2 MiB pages:
// below it a model's weights are few pages either way.
const minReread = 16 << 20

// hugePages asks for the mapping to be read in, and mapped, as 2 MiB pages
// (MADV_HUGEPAGE; transparent huge pages in "madvise" mode, the common
// default, act only on it). Decode reads every weight once per token as
// several streams per core: with 4 KiB pages each stream crosses a page
// every few rows, where the hardware prefetcher stops and a TLB miss waits:
// the 110M Q4_K_M decode step's matmuls made 5-25% more tokens/s on 2 MiB
// pages than on 4 KiB ones (BenchmarkDecodeStepQ4KM, base vs huge,
// alternated in one process on the loaded 2-core host).
//
// The advice acts only on pages read in after it: a file already in the
// page cache keeps the folio sizes it was read or written with, and a model
// just downloaded or quantized was written in 4 KiB pieces (the kernel here
// cannot collapse file pages later: MADV_COLLAPSE needs
// CONFIG_READ_ONLY_THP_FOR_FS). So for a large file one 2 MiB sample is
// read in; when it did not map as one page, the file's cached pages are
// written back and dropped, and the file is mapped again, to be read from
// disk in 2 MiB pages once: later loads find them in the page cache. The
// kernel drops only pages no process maps, so replicas that share a file
// keep sharing it. Where 2 MiB pages cannot be had (no THP, a filesystem
// without large folios, an unaligned mapping) the mapping stays as it is.
func hugePages(f *os.File, data []byte, unmap func() error) ([]byte, func() error, error) {
	_ = syscall.Madvise(data, syscall.MADV_HUGEPAGE)
	samples := hugeSamples(data)
	if len(data) < minReread || samples == nil || !fileTHP() {
		return data, unmap, nil
	}
	if huge, ok := readHuge(data, samples); !ok || huge {
		return data, unmap, nil
	}
	if err := unmap(); err != nil {
		return nil, nil, err
	}
	// Failing (a read-only filesystem, say) only leaves the small pages
	// where they are.
	_ = dropCached(f)
	slog.Debug("mapped: file was cached in small pages; reading it again", "file", f.Name())
	return mapHuge(f, len(data))
}

// mapHuge maps f's first size bytes and asks for 2 MiB pages.
func mapHuge(f *os.File, size int) ([]byte, func() error, error) {
	data, unmap, err := mapFile(f, size)
	if err == nil {
		_ = syscall.Madvise(data, syscall.MADV_HUGEPAGE)
	}
	return data, unmap, err
}

// dropCached drops f's cached pages that no process maps. Dirty pages
// cannot be dropped, so a file just written is written back first.
func dropCached(f *os.File) error {
	_ = f.Sync()
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

// hugeSamples are up to maxSamples 2 MiB-aligned pages of data spread
// evenly over it, or nil when data is not aligned as the file (a 2 MiB page
// maps file offsets that are multiples of 2 MiB at addresses that are too)
// or holds no whole page. One page in the middle was once the sample, but
// a file can be cached part in 2 MiB pages and part in 4 KiB ones (another
// process, llama.cpp say, read the rest in, or the kernel reclaimed some):
// a 110M F32 file was found mapped half and half, its decode on the small
// half taking a TLB miss every 4 KiB.
func hugeSamples(data []byte) [][]byte {
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	pages := len(data) / hugeSize
	if addr%hugeSize != 0 || pages < 2 {
		return nil
	}
	var samples [][]byte
	for i := range min(pages, maxSamples) {
		off := (2*i + 1) * pages / (2 * min(pages, maxSamples)) * hugeSize
		samples = append(samples, data[off:off+hugeSize])
	}
	return samples
}

// maxSamples is how many pages hugePages reads in to tell how a file is
// cached: 16 MiB at most, before the model's own reads.
const maxSamples = 8

// readHuge reads samples in and reports whether each mapped as one 2 MiB
// page (no other page of data is touched yet); ok is false when that
// cannot be told (a kernel before MADV_POPULATE_READ, no smaps).
func readHuge(data []byte, samples [][]byte) (huge, ok bool) {
	for _, s := range samples {
		if err := unix.Madvise(s, unix.MADV_POPULATE_READ); err != nil {
			return false, false
		}
	}
	// Their file pages mapped as 2 MiB pages.
	kb, err := smapsKB(data, "FilePmdMapped")
	if err != nil {
		return false, false
	}
	return kb*1024 >= int64(len(samples))*hugeSize, true
}

// smapsKB sums field (a "kB" figure) over the mappings of /proc/self/smaps
// that overlap b. A mapping's block starts with its range ("lo-hi perms
// ...") and ends with its VmFlags line.
func smapsKB(b []byte, field string) (int64, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	lo := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
	hi, key := lo+uint64(len(b)), field+":"
	var kb int64
	in, found := false, false
	for s := bufio.NewScanner(f); s.Scan(); {
		line := s.Text()
		var start, end uint64
		if _, err := fmt.Sscanf(line, "%x-%x ", &start, &end); err == nil {
			in = start < hi && lo < end
			continue
		}
		v, ok := strings.CutPrefix(line, key)
		if !in || !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("mapped: %s in /proc/self/smaps: %w", line, err)
		}
		kb, found = kb+n, true
	}
	if !found {
		return 0, fmt.Errorf("mapped: no %s for a mapping of %#x-%#x in /proc/self/smaps", field, lo, hi)
	}
	return kb, nil
}

// fileTHP reports whether transparent huge pages are on ("always" or
// "madvise"), without which the advice does nothing.
func fileTHP() bool {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	return err == nil && !bytes.Contains(b, []byte("[never]"))
}

// adviseHuge asks for an anonymous mapping's pages to be 2 MiB ones.
func adviseHuge(b []byte) { _ = syscall.Madvise(b, syscall.MADV_HUGEPAGE) }

// dropPages unmaps a file mapping's pages from this process (a shared
// file mapping's pages stay in the page cache and read back unchanged).
// The range first loses the mapping's MADV_HUGEPAGE: a read of a tensor
// that shares a 2 MiB page with it (a layer's norm beside its weights)
// would otherwise map the whole 2 MiB page back in.
func dropPages(b []byte) {
	_ = syscall.Madvise(b, syscall.MADV_NOHUGEPAGE)
	_ = syscall.Madvise(b, syscall.MADV_DONTNEED)
}
