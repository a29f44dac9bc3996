package scheduler

import (
	"testing"

	"github.com/graft-ai/graft/engine/kvcache"
)

// BenchmarkSchedule256 times one decode step of 256 running requests: Schedule
// plus Update, as the engine loop calls them. Tables grow a block every 16 steps,
// the only allocation left (amortized slice growth).
func BenchmarkSchedule256(b *testing.B) {
	const n = 256
	cfg := Config{MaxNumSeqs: n, MaxNumBatchedTokens: 2048, MaxModelLen: 1 << 20}
	pool := kvcache.NewBlockPool(1<<20, 16)
	s, err := New(cfg, pool)
	if err != nil {
		b.Fatal(err)
	}
	for id := range uint64(n) {
		if err := s.Add(&Request{ID: id, NumPromptTokens: 7, MaxTokens: 1 << 19}); err != nil {
			b.Fatal(err)
		}
	}
	results := make([]Result, 0, n)
	step := func() int {
		out := s.Schedule()
		results = results[:0]
		for _, sc := range out.Scheduled {
			results = append(results, Result{ID: sc.ID, Appended: 1})
		}
		s.Update(out, results)
		return len(out.Scheduled)
	}
	step() // the prefills
	b.ReportAllocs()
	for b.Loop() {
		if step() != n {
			b.Fatal("a request was not scheduled")
		}
	}
}
