//go:build goexperiment.simd && amd64

package kernel

import (
	"testing"
	"time"

	"github.com/graft-ai/graft/engine/gguf"
)

// BenchmarkDecodeStepEven runs BenchmarkDecodeStepQ4KM's packed step in
// 2 MiB pages with -steprows rows, alternating step by step even and
// guided first chunks for lone rows (runProduct), so that other load on the
// host falls on both alike: even/guided is the ratio of their times.
func BenchmarkDecodeStepEven(b *testing.B) {
	s := newQ4KMStep(benchPool(b), *stepRows, true, []gguf.Type{gguf.TypeQ4_K, gguf.TypeQ6_K})
	defer func(e bool) { evenLoneRow = e }(evenLoneRow)
	var t [2]time.Duration
	for i := 0; b.Loop(); i++ {
		m := i % 2
		evenLoneRow = m == 1
		st := time.Now()
		s.step()
		t[m] += time.Since(st)
	}
	b.ReportMetric(t[1].Seconds()/t[0].Seconds(), "even/guided")
}
