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
	buf, free := wordBuffer(mib << 20 / 8)
	defer free()
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
				sums[i] = kernel.SumWords(buf[i*block : (i+1)*block])
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
