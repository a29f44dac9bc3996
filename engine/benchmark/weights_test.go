package benchmark

import (
	"strings"
	"testing"
)

// TestMergeRounds: rounds of one format merge into each rate's median, the
// read passes of all and the highest peak RSS; greedy tokens that differ
// between rounds are an error.
func TestMergeRounds(t *testing.T) {
	run := func(prefill, dec1, lp, ld1 float64, rss int64, bw float64) WeightRun {
		return WeightRun{Name: "q4_1", Prefill: prefill, Decode: []Decode{{1, dec1}, {8, 2 * dec1}}, PeakRSS: rss,
			Bandwidth: []float64{bw}, Greedy: [][]int32{{1, 2}},
			LlamaCpp: &LlamaCpp{Prefill: lp, Decode: map[string]float64{"1": ld1}, PeakRSS: rss / 2}}
	}
	// the first round is no median, and no median a mean
	m, err := mergeRounds([]WeightRun{run(500, 100, 700, 170, 30, 14), run(900, 400, 500, 150, 50, 24), run(1000, 500, 650, 90, 40, 25)})
	if err != nil {
		t.Fatal(err)
	}
	if m.Prefill != 900 || m.DecodeAt(1) != 400 || m.DecodeAt(8) != 800 || m.PeakRSS != 50 || len(m.Bandwidth) != 3 {
		t.Errorf("merged Graft side %+v", m)
	}
	if l := m.LlamaCpp; l.Prefill != 650 || l.DecodeAt(1) != 150 || l.PeakRSS != 25 {
		t.Errorf("merged llama.cpp side %+v", *l)
	}
	odd := run(900, 400, 500, 150, 30, 24)
	odd.Greedy = [][]int32{{1, 3}}
	if _, err := mergeRounds([]WeightRun{run(900, 400, 500, 150, 30, 24), odd}); err == nil || !strings.Contains(err.Error(), "greedy") {
		t.Errorf("rounds with different greedy tokens merged: %v", err)
	}
}
