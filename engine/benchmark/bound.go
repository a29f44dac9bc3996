package benchmark

import (
	"fmt"
	"os"
)

// localBound takes read-bandwidth passes between the repetitions of a
// single-stream decode, so that the bound it is held to is the memory's
// speed in the same minute. This host's speed drifts by a third over
// minutes; against the median of passes taken before and after a whole
// six-format run, one format's decode read as 58% of the bound in one run
// and 93% in the next.
type localBound struct {
	threads, mib int
	gbs          []float64
	// peak is the highest VmHWM seen before a pass: the pass's buffer is
	// the benchmark's, not the engine's, so VmHWM is reset after each.
	peak int64
	err  error
}

// newLocalBound returns nil (no passes) where VmHWM cannot be reset, as
// the passes would then count in the engine's peak RSS.
func newLocalBound(o Options) *localBound {
	f, err := os.OpenFile("/proc/self/clear_refs", os.O_WRONLY, 0)
	if err != nil {
		return nil
	}
	f.Close()
	return &localBound{threads: o.Threads, mib: o.BandwidthMiB}
}

// pass measures one read pass (after its warm-up).
func (b *localBound) pass() {
	if b == nil || b.err != nil {
		return
	}
	p, err := peakRSS()
	if err != nil {
		b.err = err
		return
	}
	b.peak = max(b.peak, p)
	b.gbs = append(b.gbs, measureBandwidth(b.threads, b.mib, 1)...)
	if err := resetPeakRSS(); err != nil {
		b.err = fmt.Errorf("benchmark: reset VmHWM after a bandwidth pass: %w", err)
	}
}

// peakRSS is VmHWM now or before any pass, whichever is higher.
func (b *localBound) peakRSS() (int64, error) {
	p, err := peakRSS()
	if b == nil {
		return p, err
	}
	if b.err != nil {
		return 0, b.err
	}
	return max(p, b.peak), err
}

// passes is every pass in GB/s.
func (b *localBound) passes() []float64 {
	if b == nil {
		return nil
	}
	return b.gbs
}
