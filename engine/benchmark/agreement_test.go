package benchmark

import (
	"bytes"
	"strings"
	"testing"

	"github.com/graft-ai/graft/engine/sample"
)

// TestDivergences: the first difference of each prompt is found, llama.cpp's
// token is ranked in Graft's list with its logit gap, and one Graft did not
// list is said to be missing.
func TestDivergences(t *testing.T) {
	// top lists (token, logprob) pairs.
	top := func(pairs ...float32) []sample.TokenLogprob {
		var out []sample.TokenLogprob
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, sample.TokenLogprob{Token: int32(pairs[i]), Logprob: pairs[i+1]})
		}
		return out
	}
	wr := WeightRun{
		Name:   "q4_k_m",
		Greedy: [][]int32{{5, 6, 7}, {1, 2, 3}, {9, 9}},
		Top: [][][]sample.TokenLogprob{
			{top(5, -0.1), top(6, -0.5, 4, -0.75), top(7, -1)},
			{top(1, -0.2), top(2, -0.3), top(3, -0.4)},
			{top(9, -0.1, 8, -3), top(9, -0.1)},
		},
		LlamaCpp: &LlamaCpp{GreedyAll: [][]int32{{5, 4, 0}, {1, 2, 3}, {7, 9}}},
	}
	got := wr.Divergences()
	want := []Divergence{
		{Prompt: 0, Step: 1, Graft: 6, Llama: 4, Rank: 2, Gap: 0.25, Alternatives: 2},
		{Prompt: 2, Step: 0, Graft: 9, Llama: 7, Rank: 0, Alternatives: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("divergences %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("divergence %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	var out bytes.Buffer
	(&Report{Weights: []WeightRun{wr}}).printDivergences(&out)
	for _, line := range []string{
		"q4_k_m, prompt 1, token 2: llama.cpp took 4, Graft 6; it is Graft's choice #2, 0.2500 below Graft's in Graft's logits",
		"q4_k_m, prompt 3, token 1: llama.cpp took 7, Graft 9; llama.cpp's token is not among Graft's 2 likeliest",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("output lacks %q:\n%s", line, out.String())
		}
	}
}
