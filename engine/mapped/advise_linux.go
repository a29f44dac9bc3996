package mapped

import "syscall"

// adviseHuge asks for the mapping to be read in, and mapped, as 2 MiB
// pages (MADV_HUGEPAGE; transparent huge pages in "madvise" mode, the
// common default, act only on it). Decode reads every weight once per token
// as several streams per core: with 4 KiB pages each stream crosses a page
// every few rows, where the hardware prefetcher stops and a TLB miss waits:
// the 110M Q4_K_M decode step's matmuls made 5-25% more tokens/s on 2 MiB
// pages than on 4 KiB ones (BenchmarkDecodeStepQ4KM, base vs huge,
// alternated in one process on the loaded 2-core host). It must come before
// the first touch: a file already in the page cache keeps the folio sizes
// it was read or written with (a file just written by the quantizer maps as
// 4 KiB pages), and this kernel cannot collapse file pages later
// (MADV_COLLAPSE needs CONFIG_READ_ONLY_THP_FOR_FS). Failure (no THP)
// only costs the speed, so it is ignored.
func adviseHuge(data []byte) { _ = syscall.Madvise(data, syscall.MADV_HUGEPAGE) }
