package sample

import (
	"slices"
	"testing"
)

func greedyWith(rep, freq, pres float32) Params {
	p := DefaultParams()
	p.Temperature = 0
	p.RepetitionPenalty, p.FrequencyPenalty, p.PresencePenalty = rep, freq, pres
	return p
}

func TestRepetitionPenalty(t *testing.T) {
	s := New(greedyWith(2, 0, 0), 6)
	logits := []float32{2, -2, 1, 0.5, 3, 0}
	// Token 0 (positive) is divided, 1 (negative) multiplied, 5 (zero) stays;
	// 2 appears in both lists and 0 twice, and each is penalized once.
	s.Sample(logits, []int32{0, 1, 0, 5}, []int32{2, 2})
	want := []float32{1, -4, 0.5, 0.5, 3, 0}
	if !slices.Equal(logits, want) {
		t.Errorf("got %v, want %v", logits, want)
	}
}

func TestFrequencyAndPresencePenalty(t *testing.T) {
	s := New(greedyWith(1, 0.5, 0.25), 5)
	logits := []float32{2, -2, 1, 0.5, 3}
	// Only generated tokens count: token 2 twice, 1 once; prompt token 4 is
	// untouched.
	s.Sample(logits, []int32{4, 3}, []int32{2, 1, 2})
	want := []float32{2, -2.75, -0.25, 0.5, 3} // 1: -2-0.5·1-0.25; 2: 1-0.5·2-0.25
	if !slices.Equal(logits, want) {
		t.Errorf("got %v, want %v", logits, want)
	}
}

func TestPenaltiesCombineInOrder(t *testing.T) {
	s := New(greedyWith(1.5, -1, 2), 4)
	logits := []float32{3, -3, 1.5, 4}
	s.Sample(logits, []int32{0, 1}, []int32{1, 1, 2})
	// Repetition first: 3/1.5, -3*1.5, 1.5/1.5; then frequency (-1 per
	// occurrence) and presence (2) on generated 1 (×2) and 2 (×1).
	want := []float32{2, -4.5 + 2 - 2, 1 + 1 - 2, 4}
	if !slices.Equal(logits, want) {
		t.Errorf("got %v, want %v", logits, want)
	}
}

// The scratch counts must be clean between calls, or a token from an earlier
// step would keep being penalized.
func TestPenaltyCountsReset(t *testing.T) {
	s := New(greedyWith(2, 1, 0), 4)
	first := []float32{1, 1, 1, 1}
	s.Sample(first, []int32{0}, []int32{1, 1, 7, -3}) // out-of-range ids ignored
	if want := []float32{0.5, 0.5 - 2, 1, 1}; !slices.Equal(first, want) {
		t.Errorf("first call: got %v, want %v", first, want)
	}
	second := []float32{1, 1, 1, 1}
	s.Sample(second, nil, []int32{3})
	if want := []float32{1, 1, 1, 0.5 - 1}; !slices.Equal(second, want) {
		t.Errorf("second call: got %v, want %v", second, want)
	}
	if !slices.Equal(s.count, make([]int32, 4)) {
		t.Errorf("counts not reset: %v", s.count)
	}
}
