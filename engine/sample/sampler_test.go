package sample

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func randomLogits(seed uint64, n int, scale float64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	l := make([]float32, n)
	for i := range l {
		l[i] = float32(r.NormFloat64() * scale)
	}
	return l
}

func seeded(seed uint64) Params {
	p := DefaultParams()
	p.Seed, p.HasSeed = seed, true
	return p
}

func TestGreedyIsArgmax(t *testing.T) {
	p := DefaultParams()
	p.Temperature = 0
	for seed := range uint64(20) {
		logits := randomLogits(seed, 1000, 3)
		want := int32(0)
		for i, l := range logits {
			if l > logits[want] {
				want = int32(i)
			}
		}
		if got := New(p, len(logits)).Sample(logits, nil, nil).Token; got != want {
			t.Errorf("seed %d: got %d, want %d", seed, got, want)
		}
	}
}

func TestGreedyTiesPickLowestID(t *testing.T) {
	p := DefaultParams()
	p.Temperature = 0
	logits := []float32{1, 5, float32(math.NaN()), 5, 2, 5}
	if got := New(p, 6).Sample(logits, nil, nil).Token; got != 1 {
		t.Errorf("got %d, want 1", got)
	}
	inf := float32(math.Inf(1))
	if got := New(p, 3).Sample([]float32{1, inf, inf}, nil, nil).Token; got != 1 {
		t.Errorf("+Inf tie: got %d, want 1", got)
	}
}

func TestAllMaskedReturnsZero(t *testing.T) {
	ninf := float32(math.Inf(-1))
	for _, temp := range []float32{0, 1} {
		p := seeded(1)
		p.Temperature = temp
		logits := []float32{ninf, float32(math.NaN()), ninf}
		if got := New(p, 3).Sample(logits, nil, nil).Token; got != 0 {
			t.Errorf("temperature %v: got %d, want 0", temp, got)
		}
	}
}

func drawMany(s *Sampler, logits []float32, n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = s.Sample(logits, nil, nil).Token
	}
	return out
}

func TestSeedReproducible(t *testing.T) {
	logits := randomLogits(7, 500, 1)
	configs := map[string]func(*Params){
		"plain": func(*Params) {},
		"top_k": func(p *Params) { p.TopK = 40 },
		"top_p": func(p *Params) { p.TopP = 0.8 },
		"min_p": func(p *Params) { p.MinP = 0.1 },
	}
	for name, edit := range configs {
		p42, p43 := seeded(42), seeded(43)
		edit(&p42)
		edit(&p43)
		a := drawMany(New(p42, len(logits)), logits, 200)
		b := drawMany(New(p42, len(logits)), logits, 200)
		c := drawMany(New(p43, len(logits)), logits, 200)
		if !slices.Equal(a, b) {
			t.Errorf("%s: same seed gave different tokens", name)
		}
		if slices.Equal(a, c) {
			t.Errorf("%s: seeds 42 and 43 gave the same 200 tokens", name)
		}
	}
}

// A sequence's draws must not depend on other sequences sampled in between.
func TestSeedIndependentOfBatch(t *testing.T) {
	logits := randomLogits(3, 100, 1)
	alone := drawMany(New(seeded(9), 100), logits, 50)
	a, other := New(seeded(9), 100), New(seeded(10), 100)
	for i := range 50 {
		other.Sample(logits, nil, nil)
		if got := a.Sample(logits, nil, nil).Token; got != alone[i] {
			t.Fatalf("draw %d: %d batched, %d alone", i, got, alone[i])
		}
	}
}

func TestUnseededSamplersDiffer(t *testing.T) {
	logits := randomLogits(5, 1000, 0.1)
	a := drawMany(New(DefaultParams(), 1000), logits, 50)
	b := drawMany(New(DefaultParams(), 1000), logits, 50)
	if slices.Equal(a, b) {
		t.Error("two unseeded samplers drew the same 50 tokens")
	}
}

func softmax(logits []float32, temp float64) []float64 {
	m := float64(slices.Max(logits))
	p := make([]float64, len(logits))
	var z float64
	for i, l := range logits {
		p[i] = math.Exp((float64(l) - m) / temp)
		z += p[i]
	}
	for i := range p {
		p[i] /= z
	}
	return p
}

// checkFrequencies draws n tokens and checks each token's count against the
// expected probability with a 5-sigma binomial tolerance. The seed is fixed,
// so the test is deterministic.
func checkFrequencies(t *testing.T, s *Sampler, logits []float32, want []float64, n int) {
	t.Helper()
	counts := make([]int, len(logits))
	work := make([]float32, len(logits))
	for range n {
		copy(work, logits)
		counts[s.Sample(work, nil, nil).Token]++
	}
	for i, c := range counts {
		mean := float64(n) * want[i]
		sigma := math.Sqrt(float64(n) * want[i] * (1 - want[i]))
		if want[i] == 0 && c != 0 {
			t.Errorf("token %d: drawn %d times, probability 0", i, c)
		} else if math.Abs(float64(c)-mean) > 5*sigma+1e-9 {
			t.Errorf("token %d: drawn %d times, expected %.1f ± %.1f", i, c, mean, 5*sigma)
		}
	}
}

func TestDistributionMatchesSoftmax(t *testing.T) {
	logits := []float32{1, 2, 0.5, -1, 3, 2, 0, -3}
	checkFrequencies(t, New(seeded(2024), len(logits)), logits, softmax(logits, 1), 200_000)
}

// Many tokens share a bucket here, so the draw goes through the bucket walk
// and the sort inside one bucket.
func TestDistributionManyTokens(t *testing.T) {
	logits := randomLogits(11, 300, 1)
	p := seeded(77)
	p.Temperature = 0.8
	checkFrequencies(t, New(p, len(logits)), logits, softmax(logits, 0.8), 100_000)
}

func TestDistributionTruncated(t *testing.T) {
	logits := randomLogits(12, 200, 1.5)
	for name, edit := range map[string]func(*Params){
		"top_k": func(p *Params) { p.TopK = 10 },
		"top_p": func(p *Params) { p.TopP = 0.7; p.Temperature = 1.3 },
		"min_p": func(p *Params) { p.MinP = 0.05 },
		"all":   func(p *Params) { p.TopK = 30; p.TopP = 0.9; p.MinP = 0.02 },
	} {
		t.Run(name, func(t *testing.T) {
			p := seeded(5)
			edit(&p)
			ids, probs := refKept(logits, p)
			want := make([]float64, len(logits))
			for i, id := range ids {
				want[id] = probs[i]
			}
			checkFrequencies(t, New(p, len(logits)), logits, want, 50_000)
		})
	}
}

func TestLogprobs(t *testing.T) {
	logits := randomLogits(21, 20, 2)
	logits[3], logits[8] = 9, 9 // a tie at the top: lower id first
	p := seeded(4)
	p.Logprobs, p.TopLogprobs = true, 20
	p.RepetitionPenalty = 1.3
	s := New(p, len(logits))
	for step := range 30 {
		work := slices.Clone(logits)
		r := s.Sample(work, []int32{1, 2}, []int32{5, 5, 3})
		// work now holds the penalized logits the logprobs describe.
		lse := refLogSumExp(work)
		var sum float64
		for i, e := range r.Top {
			sum += math.Exp(float64(e.Logprob))
			if want := float64(work[e.Token]) - lse; math.Abs(float64(e.Logprob)-want) > 1e-5 {
				t.Fatalf("step %d: token %d logprob %v, want %v", step, e.Token, e.Logprob, want)
			}
			if i > 0 && (e.Logprob > r.Top[i-1].Logprob ||
				e.Logprob == r.Top[i-1].Logprob && e.Token < r.Top[i-1].Token) {
				t.Fatalf("step %d: top not in descending order: %v", step, r.Top)
			}
			if e.Token == r.Token && e.Logprob != r.Logprob {
				t.Fatalf("step %d: chosen token %d logprob %v, its top entry %v", step, r.Token, r.Logprob, e.Logprob)
			}
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Fatalf("step %d: probabilities sum to %v", step, sum)
		}
		// The repetition penalty divided token 3, so token 8 now leads.
		if r.Top[0].Token != 8 {
			t.Fatalf("step %d: top token %d, want 8", step, r.Top[0].Token)
		}
	}
}

func TestTopLogprobsSelection(t *testing.T) {
	logits := randomLogits(22, 5000, 3)
	logits[100], logits[4000] = 20, 20
	p := seeded(1)
	p.Temperature = 0
	p.Logprobs, p.TopLogprobs = true, 7
	r := New(p, len(logits)).Sample(slices.Clone(logits), nil, nil)
	ids := make([]int32, len(logits))
	for i := range ids {
		ids[i] = int32(i)
	}
	slices.SortStableFunc(ids, func(a, b int32) int {
		if logits[a] != logits[b] {
			if logits[a] > logits[b] {
				return -1
			}
			return 1
		}
		return 0
	})
	lse := refLogSumExp(logits)
	for i, e := range r.Top {
		if e.Token != ids[i] {
			t.Errorf("top[%d] = %d, want %d", i, e.Token, ids[i])
		}
	}
	if r.Token != 100 || math.Abs(float64(r.Logprob)-(20-lse)) > 1e-5 {
		t.Errorf("chosen %d logprob %v, want 100 and %v", r.Token, r.Logprob, 20-lse)
	}
}

func refLogSumExp(l []float32) float64 {
	m := float64(slices.Max(l))
	var s float64
	for _, x := range l {
		s += math.Exp(float64(x) - m)
	}
	return m + math.Log(s)
}

func TestSampleAllocatesNothing(t *testing.T) {
	logits := randomLogits(31, 32000, 3)
	prompt := []int32{1, 5, 9, 31999, 5}
	generated := []int32{7, 7, 8}
	for name, edit := range map[string]func(*Params){
		"greedy":    func(p *Params) { p.Temperature = 0 },
		"plain":     func(*Params) {},
		"top_k":     func(p *Params) { p.TopK = 50 },
		"top_p":     func(p *Params) { p.TopP = 0.9 },
		"min_p":     func(p *Params) { p.MinP = 0.05 },
		"penalized": func(p *Params) { p.RepetitionPenalty, p.FrequencyPenalty, p.PresencePenalty = 1.2, 0.5, 0.5 },
		"logprobs":  func(p *Params) { p.Logprobs, p.TopLogprobs = true, 20 },
	} {
		p := seeded(3)
		edit(&p)
		s := New(p, len(logits))
		work := make([]float32, len(logits))
		run := func() {
			copy(work, logits)
			s.Sample(work, prompt, generated)
		}
		run() // warm-up
		if a := testing.AllocsPerRun(20, run); a != 0 {
			t.Errorf("%s: %v allocations per Sample", name, a)
		}
	}
}
