package kernel

import (
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkLoRAExpand times ExpandLoRABF16 against the shrink that comes
// before it in a LoRA delta (MatMulBF16 of one row by A), on matrices of the
// same bytes (768×16 bfloat16, a 110M model's q_proj at rank 16),
// alternating the two in one loop. hot reuses one matrix; cold cycles
// through 96 MiB of them, as a decode step over many adapters reads them.
// It reports both times per matrix and expand/shrink.
func BenchmarkLoRAExpand(b *testing.B) {
	const rows, rank, mats = 768, 16, 4096
	rng := rand.New(rand.NewPCG(1, 2))
	as := make([][]uint16, mats)
	ps := make([][]uint16, mats)
	for i := range as {
		as[i] = randBF16(rng, rank*rows)
		ps[i] = LoRAPanelsBF16(randBF16(rng, rows*rank), rows, rank)
	}
	x, t, y := randVec(rng, rows), make([]float32, rank), randVec(rng, rows)
	for _, span := range []int{1, mats} {
		name := map[int]string{1: "hot", mats: "cold"}[span]
		b.Run(name, func(b *testing.B) {
			var shrink, expand time.Duration
			m := 0
			for b.Loop() {
				t0 := time.Now()
				for range 64 {
					MatMulBF16(nil, t, x, as[m], 1, rows, rank)
					m = (m + 1) % span
				}
				t1 := time.Now()
				for range 64 {
					ExpandLoRABF16(y, t, ps[m])
					m = (m + 1) % span
				}
				shrink, expand = shrink+t1.Sub(t0), expand+time.Since(t1)
			}
			n := float64(64 * b.N)
			b.ReportMetric(float64(shrink.Nanoseconds())/n, "ns/shrink")
			b.ReportMetric(float64(expand.Nanoseconds())/n, "ns/expand")
			b.ReportMetric(expand.Seconds()/shrink.Seconds(), "expand/shrink")
		})
	}
}
