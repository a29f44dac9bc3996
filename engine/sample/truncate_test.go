package sample

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

// refKept is the straightforward pipeline: sort everything, cut, renormalize.
// It returns the kept tokens in draw order with their probabilities.
func refKept(logits []float32, p Params) ([]int32, []float64) {
	ids := make([]int32, len(logits))
	for i := range ids {
		ids[i] = int32(i)
	}
	slices.SortFunc(ids, func(a, b int32) int {
		switch {
		case logits[a] > logits[b]:
			return -1
		case logits[a] < logits[b]:
			return 1
		}
		return int(a - b)
	})
	if p.TopK > 0 && p.TopK < len(ids) {
		kth := logits[ids[p.TopK-1]]
		n := p.TopK
		for n < len(ids) && logits[ids[n]] == kth {
			n++
		}
		ids = ids[:n]
	}
	m := float64(logits[ids[0]])
	w := make([]float64, len(ids))
	var z float64
	for i, id := range ids {
		w[i] = math.Exp((float64(logits[id]) - m) / float64(p.Temperature))
		z += w[i]
	}
	n := len(ids)
	if p.TopP < 1 {
		var before float64
		for i := range ids {
			if before >= float64(p.TopP)*z {
				n = i
				break
			}
			before += w[i]
		}
	}
	for i := range n {
		if w[i] < float64(p.MinP) {
			n = i
			break
		}
	}
	ids, w = ids[:n], w[:n]
	var kept float64
	for _, x := range w {
		kept += x
	}
	for i := range w {
		w[i] /= kept
	}
	return ids, w
}

// drawAt runs the sampler's draw for a chosen uniform u.
func drawAt(s *Sampler, logits []float32, u float64) int32 {
	work := slices.Clone(logits)
	m, _ := scan(work)
	return s.draw(work, m, u)
}

// checkAgainstRef checks that the draw maps u to the reference's inverse CDF
// at the middle and near both ends of kept tokens' intervals. The intervals
// tile [0, 1), so an extra, missing or misordered token, or a wrong
// probability, shifts some interval by more than the margin. The margin,
// 1e-6, is well above the sampler's float32 weights' rounding (about 6e-8
// relative). At most about 100 intervals are probed, spread over the list.
func checkAgainstRef(t *testing.T, logits []float32, p Params) {
	t.Helper()
	const margin = 1e-6
	s := New(p, len(logits))
	ids, probs := refKept(logits, p)
	step := max(1, len(ids)/100)
	var lo float64
	for i, id := range ids {
		hi := lo + probs[i]
		if i%step == 0 || i >= len(ids)-3 {
			for _, u := range []float64{lo + margin, (lo + hi) / 2, hi - margin} {
				if u-lo < margin || hi-u < margin {
					continue
				}
				if got := drawAt(s, logits, u); got != id {
					t.Fatalf("%+v: u=%v in [%v, %v) drew %d, reference %d (kept %d tokens)",
						p, u, lo, hi, got, id, len(ids))
				}
			}
		}
		lo = hi
	}
}

// Probabilities 0.5, 0.2, 0.15, 0.1, 0.05 on ids 3, 0, 4, 1, 2.
var handLogits = []float32{
	float32(math.Log(0.2)), float32(math.Log(0.1)), float32(math.Log(0.05)),
	float32(math.Log(0.5)), float32(math.Log(0.15)),
}

func TestTruncationHandCases(t *testing.T) {
	cases := []struct {
		edit func(*Params)
		want []int32 // reachable tokens, in draw order
	}{
		{func(*Params) {}, []int32{3, 0, 4, 1, 2}},
		{func(p *Params) { p.TopK = 1 }, []int32{3}},
		{func(p *Params) { p.TopK = 2 }, []int32{3, 0}},
		{func(p *Params) { p.TopK = 5 }, []int32{3, 0, 4, 1, 2}},
		{func(p *Params) { p.TopP = 0.45 }, []int32{3}},
		{func(p *Params) { p.TopP = 0.55 }, []int32{3, 0}},
		{func(p *Params) { p.TopP = 0.75 }, []int32{3, 0, 4}},
		{func(p *Params) { p.TopP = 0.9 }, []int32{3, 0, 4, 1}}, // 0.95 before token 2
		{func(p *Params) { p.TopP = 0.97 }, []int32{3, 0, 4, 1, 2}},
		{func(p *Params) { p.MinP = 0.35 }, []int32{3, 0}},    // p >= 0.175
		{func(p *Params) { p.MinP = 0.25 }, []int32{3, 0, 4}}, // p >= 0.125
		{func(p *Params) { p.MinP = 1 }, []int32{3}},
		// top-k 4 renormalizes to 0.5/0.95…; top-p 0.7 of that keeps 3 and 0.
		{func(p *Params) { p.TopK = 4; p.TopP = 0.7 }, []int32{3, 0}},
		{func(p *Params) { p.TopK = 3; p.MinP = 0.35 }, []int32{3, 0}},
	}
	for i, c := range cases {
		p := seeded(1)
		c.edit(&p)
		s := New(p, len(handLogits))
		var got []int32
		const grid = 2000
		for k := range grid {
			tok := drawAt(s, handLogits, (float64(k)+0.5)/grid)
			if !slices.Contains(got, tok) {
				got = append(got, tok)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("case %d %+v: reachable %v, want %v", i, p, got, c.want)
		}
		checkAgainstRef(t, handLogits, p)
	}
}

func TestTruncationMatchesReference(t *testing.T) {
	for seed := range uint64(6) {
		for _, vocab := range []int{50, 3000} {
			logits := randomLogits(seed, vocab, 1+float64(seed%4))
			for _, p := range []Params{
				{Temperature: 1, TopP: 1},
				{Temperature: 0.6, TopP: 1},
				{Temperature: 1, TopK: 20, TopP: 1},
				{Temperature: 1, TopP: 0.9},
				{Temperature: 1.5, TopP: 0.5},
				{Temperature: 1, TopP: 1, MinP: 0.1},
				{Temperature: 0.8, TopK: 100, TopP: 0.95, MinP: 0.02},
				{Temperature: 1, TopP: 0.99, MinP: 0.001},
			} {
				p.RepetitionPenalty, p.Seed, p.HasSeed = 1, seed, true
				t.Run(fmt.Sprintf("seed%d/v%d/%+v", seed, vocab, p), func(t *testing.T) {
					checkAgainstRef(t, logits, p)
				})
			}
		}
	}
}

// Tied logits at the k-th place are all kept, as HF and vLLM do.
func TestTopKKeepsTies(t *testing.T) {
	logits := []float32{1, 3, 2, 2, 0, 2}
	p := seeded(1)
	p.TopK = 2
	checkAgainstRef(t, logits, p)
	ids, _ := refKept(logits, p)
	if !slices.Equal(ids, []int32{1, 2, 3, 5}) {
		t.Fatalf("reference kept %v", ids)
	}
}
