package mapped

import "syscall"

// adviseHuge asks for the mapping to be read in, and mapped, as 2 MiB
// pages (MADV_HUGEPAGE; transparent huge pages in "madvise" mode, the
// common default, act only on it). Decode reads every weight once per token
// as several streams per core: with 4 KiB pages each stream crosses a page
// every few rows, where the hardware prefetcher stops and a TLB miss waits,
// and the 110M Q4_K_M decode step's matmuls ran ~5% slower on 4 KiB pages
// than on 2 MiB ones (BenchmarkDecodeStepQ4KM, base vs huge, alternated).
// It must come before the first touch: a file already in the page cache
// keeps the page sizes it was read with. Failure (no THP, another kernel)
// only costs the speed, so it is ignored.
func adviseHuge(data []byte) { _ = syscall.Madvise(data, syscall.MADV_HUGEPAGE) }
