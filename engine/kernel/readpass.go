package kernel

// SumWords adds 64-bit words as eight interleaved streams, one from each
// eighth of x: a read of memory at the speed decode is bounded by (graft
// bench engine's bandwidth pass, and the kernels' A/B benchmarks against
// it). One sequential stream per core leaves the memory system idle between
// misses: on the 2-core test host eight streams of 8-byte loads read about
// 24 GB/s where one read 13. The SIMD build loads each stream 32 bytes at a
// time (37-50 GB/s on two threads where the scalar loop read 29-30): with
// 8-byte loads one core summed about 19 GB/s even from L3, under what the
// half-precision decode kernels read from memory (40 GB/s on two cores),
// so the pass measured its own loop, not the memory. The words of x past
// the last multiple of 8 are not read.
func SumWords(x []uint64) uint64 { return sumWordsImpl(x) }

var sumWordsImpl = sumWordsGo

func sumWordsGo(x []uint64) uint64 {
	n := len(x) / 8
	p0, p1, p2, p3 := x[:n], x[n:2*n], x[2*n:3*n], x[3*n:4*n]
	p4, p5, p6, p7 := x[4*n:5*n], x[5*n:6*n], x[6*n:7*n], x[7*n:8*n]
	var a0, a1, a2, a3, a4, a5, a6, a7 uint64
	for i := range p0 {
		a0 += p0[i]
		a1 += p1[i]
		a2 += p2[i]
		a3 += p3[i]
		a4 += p4[i]
		a5 += p5[i]
		a6 += p6[i]
		a7 += p7[i]
	}
	return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7
}
