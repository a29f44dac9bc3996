package sample

import (
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
)

// pcgStream is the fixed PCG increment for seeded samplers; the seed alone
// picks the stream, so equal seeds give equal draws everywhere.
const pcgStream = 0x9e3779b97f4a7c15

// Result is one sampled token.
type Result struct {
	Token int32
	// Logprob is the token's log-probability under the penalized
	// distribution (before temperature and truncation); 0 unless
	// Params.Logprobs.
	Logprob float32
	// Top holds the Params.TopLogprobs most likely tokens, descending,
	// lower id first among equals. It aliases the Sampler's scratch and is
	// valid only until the next Sample call.
	Top []TokenLogprob
}

// Sampler samples one sequence's tokens. It is not safe for concurrent use.
type Sampler struct {
	p       Params
	vocab   int
	rng     *rand.PCG
	count   []int32 // penalty counts, all zero between calls
	cands   []cand  // one per token when sampling
	top     []TokenLogprob
	hist    histogram
	invTemp float64
}

// New returns a sampler for p, which must satisfy p.Validate(vocabSize);
// New panics otherwise, since the request layer validates first. Scratch is
// allocated here, sized by what p uses: 4 bytes per vocabulary entry with
// penalties and 8 more when Temperature > 0 (1.8 MB for a 150k vocabulary
// with both).
func New(p Params, vocabSize int) *Sampler {
	if err := p.Validate(vocabSize); err != nil {
		panic(fmt.Sprintf("sample.New: %v", err))
	}
	s := &Sampler{p: p, vocab: vocabSize, top: make([]TokenLogprob, p.TopLogprobs)}
	if p.HasSeed {
		s.rng = rand.NewPCG(p.Seed, pcgStream)
	} else {
		var b [16]byte
		crand.Read(b[:]) // never fails since Go 1.24
		s.rng = rand.NewPCG(binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:]))
	}
	if p.penalized() {
		s.count = make([]int32, vocabSize)
	}
	if p.Temperature > 0 {
		s.cands = make([]cand, vocabSize)
		s.invTemp = 1 / float64(p.Temperature)
	}
	return s
}

// Sample picks the next token from logits (len == vocabSize), given the
// prompt and the tokens generated so far. It modifies logits in place:
// penalties are applied to them, NaN becomes -Inf and +Inf the largest
// float32. If every logit is -Inf or NaN, token 0 is returned.
//
// A greedy sampler (Temperature 0) draws no random number; any other
// consumes exactly one uniform per call.
func (s *Sampler) Sample(logits []float32, prompt, generated []int32) Result {
	if len(logits) != s.vocab {
		panic(fmt.Sprintf("sample: %d logits for a vocabulary of %d", len(logits), s.vocab))
	}
	if s.count != nil {
		applyPenalties(&s.p, logits, s.count, prompt, generated)
	}
	maxLogit, argmax := scan(logits)
	r := Result{Token: argmax}
	if s.p.Temperature > 0 {
		u := s.uniform()
		if !math.IsInf(float64(maxLogit), -1) {
			r.Token = s.draw(logits, maxLogit, u)
		}
	}
	if s.p.Logprobs {
		lse := logSumExp(logits, maxLogit)
		r.Logprob = float32(float64(logits[r.Token]) - lse)
		topLogits(logits, s.top)
		for i := range s.top {
			s.top[i].Logprob = float32(float64(s.top[i].Logprob) - lse)
		}
		r.Top = s.top
	}
	return r
}

func (s *Sampler) uniform() float64 {
	return float64(s.rng.Uint64()>>11) * 0x1p-53
}

// draw runs temperature, top-k, top-p and min-p, then returns the token whose
// share of the kept, renormalized mass contains u in [0, 1), walking tokens
// in descending-probability order. With top-k only the k candidates are
// weighed and sorted; otherwise the bucket histogram limits the sort to the
// nucleus (top-p) or to the one bucket the draw lands in.
func (s *Sampler) draw(logits []float32, maxLogit float32, u float64) int32 {
	p := &s.p
	if p.topKActive(s.vocab) {
		c := topK(logits, p.TopK, s.invTemp, s.cands)
		c = c[:nucleusMinP(c, sumWeights(c), p.TopP, p.MinP)]
		return pickSorted(c, u*sumWeights(c))
	}
	m := float64(maxLogit)
	if p.TopP < 1 {
		total := fullWeights(logits, m, s.invTemp, 0, s.cands, &s.hist)
		b := nucleusBucket(&s.hist, float64(p.TopP)*total)
		c := gather(s.cands, bucketLow(b), float32(math.Inf(1)))
		c = c[:nucleusMinP(c, total, p.TopP, p.MinP)]
		return pickSorted(c, u*sumWeights(c))
	}
	total := fullWeights(logits, m, s.invTemp, p.MinP, s.cands, &s.hist)
	target := u * total
	b, above := drawBucket(&s.hist, target)
	hi := float32(math.Inf(1))
	if b < numBuckets-1 {
		hi = bucketLow(b + 1)
	}
	return pickSorted(gather(s.cands, bucketLow(b), hi), target-above)
}
