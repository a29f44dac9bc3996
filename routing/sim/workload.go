package sim

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sort"
)

//go:embed lengths.json
var defaultLengths []byte

// Lengths draws prompt and output token counts.
type Lengths struct {
	Source string    `json:"source"`
	Prompt Empirical `json:"prompt"`
	Output Empirical `json:"output"`
}

// Empirical is a length distribution given by quantiles of a trace: pairs
// (p, tokens), p rising from 0 to 1. A draw inverts the CDF, linear between
// the pairs, and is clipped to [Min, Max]. Traces' lengths are multimodal
// (chat templates, fixed system prompts), which no lognormal fits.
type Empirical struct {
	Quantiles [][2]float64 `json:"quantiles"`
	Min       int          `json:"min"`
	Max       int          `json:"max"`
}

// LoadLengths reads a length file; "" is the shipped fit to the Azure LLM
// inference trace (conversation).
func LoadLengths(path string) (Lengths, error) {
	b := defaultLengths
	if path != "" {
		var err error
		if b, err = os.ReadFile(path); err != nil {
			return Lengths{}, err
		}
	}
	var l Lengths
	if err := json.Unmarshal(b, &l); err != nil {
		return Lengths{}, fmt.Errorf("lengths %s: %w", path, err)
	}
	for _, d := range []Empirical{l.Prompt, l.Output} {
		if err := d.check(); err != nil {
			return Lengths{}, fmt.Errorf("lengths %s: %w", path, err)
		}
	}
	return l, nil
}

func (d Empirical) check() error {
	q := d.Quantiles
	if len(q) < 2 || q[0][0] != 0 || q[len(q)-1][0] != 1 {
		return fmt.Errorf("need quantiles from p = 0 to p = 1")
	}
	for i := 1; i < len(q); i++ {
		if q[i][0] <= q[i-1][0] || q[i][1] < q[i-1][1] {
			return fmt.Errorf("quantiles need rising p and non-decreasing tokens (at %v)", q[i])
		}
	}
	if q[0][1] < 0 || d.Min < 1 || d.Max < d.Min {
		return fmt.Errorf("need tokens >= 0 and 1 <= min <= max")
	}
	return nil
}

// at is the clipped length at cumulative probability u.
func (d Empirical) at(u float64) float64 {
	q := d.Quantiles
	i := max(sort.Search(len(q), func(i int) bool { return q[i][0] > u }), 1)
	i = min(i, len(q)-1)
	lo, hi := q[i-1], q[i]
	x := lo[1] + (hi[1]-lo[1])*(u-lo[0])/(hi[0]-lo[0])
	return min(max(x, float64(d.Min)), float64(d.Max))
}

// Draw samples one length.
func (d Empirical) Draw(r *rand.Rand) int {
	return min(max(int(math.Round(d.at(r.Float64()))), d.Min), d.Max)
}

// Mean is the mean length drawn (midpoint rule over p: exact between
// pairs, close where a clip bends the line).
func (d Empirical) Mean() float64 {
	const n = 4096
	sum := 0.0
	for k := range n {
		sum += d.at((float64(k) + 0.5) / n)
	}
	return sum / n
}

// popularity draws adapters by Zipf(s) over ranks, with the rank → adapter
// mapping drifting: every drift period some ranks trade adapters, so which
// adapters are hot changes over a run.
type popularity struct {
	cdf   []float64
	owner []int // rank → adapter
}

func newPopularity(n int, s float64) *popularity {
	p := &popularity{cdf: make([]float64, n), owner: make([]int, n)}
	sum := 0.0
	for i := range n {
		sum += 1 / math.Pow(float64(i+1), s)
		p.cdf[i] = sum
		p.owner[i] = i
	}
	for i := range p.cdf {
		p.cdf[i] /= sum
	}
	return p
}

func (p *popularity) draw(r *rand.Rand) int {
	u := r.Float64()
	return p.owner[min(sort.SearchFloat64s(p.cdf, u), len(p.cdf)-1)]
}

// drift swaps each of the top ranks, with probability frac, with a random
// rank: a hot adapter cools and a cold one heats up.
func (p *popularity) drift(r *rand.Rand, top int, frac float64) {
	n := len(p.owner)
	for i := range min(top, n) {
		if r.Float64() < frac {
			j := r.IntN(n)
			p.owner[i], p.owner[j] = p.owner[j], p.owner[i]
		}
	}
}

// arrivals yields request times: Poisson at rate, or on/off (a Markov-
// modulated Poisson process, exponential on and off periods of the given
// means) with the same mean rate, all of it arriving while on.
type arrivals struct {
	rate            float64
	bursty          bool
	meanOn, meanOff float64
	on              bool
	switchAt        float64
}

func (a *arrivals) next(r *rand.Rand, now float64) float64 {
	if !a.bursty {
		return now + r.ExpFloat64()/a.rate
	}
	peak := a.rate * (a.meanOn + a.meanOff) / a.meanOn
	for {
		if !a.on {
			now = a.switchAt
			a.on, a.switchAt = true, now+r.ExpFloat64()*a.meanOn
		}
		t := now + r.ExpFloat64()/peak
		if t < a.switchAt {
			return t
		}
		now = a.switchAt
		a.on, a.switchAt = false, now+r.ExpFloat64()*a.meanOff
	}
}
