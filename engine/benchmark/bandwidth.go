package benchmark

import (
	"time"

	"github.com/graft-ai/graft/engine/kernel"
)

// measureBandwidth returns the read bandwidth in GB/s of each of reps passes in
// which all threads together sum a buffer of mib MiB, far larger than the
// caches. Decode streams every weight once per step, so this is its ceiling.
func measureBandwidth(threads, mib, reps int) []float64 {
	const block = 32 << 10 // words per task: 256 KiB
	buf := make([]uint64, mib<<20/8)
	for i := range buf {
		buf[i] = 1 // touch every page so that the passes read memory, not the zero page
	}
	blocks := len(buf) / block
	p := kernel.NewPool(threads)
	defer p.Close()
	sums := make([]uint64, blocks)
	pass := func() {
		p.Run(blocks, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				sums[i] = sum8(buf[i*block : (i+1)*block])
			}
		})
	}
	pass() // warm-up: page tables, worker wake-up
	out := make([]float64, 0, reps)
	for range reps {
		start := time.Now()
		pass()
		out = append(out, float64(blocks*block*8)/time.Since(start).Seconds()/1e9)
	}
	if sums[0] != block {
		panic("benchmark: bandwidth pass summed wrongly")
	}
	return out
}

// sum8 adds 64-bit words as eight interleaved streams, one from each eighth of
// x. One sequential stream per core leaves the memory system idle between
// misses: on the 2-core host eight streams read about 24 GB/s where one reads
// 13. Plain Go loads at two per cycle are far above memory speed, so the result
// does not depend on the kernel build.
func sum8(x []uint64) uint64 {
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
