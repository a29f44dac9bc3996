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
	Prompt LogNormal `json:"prompt"`
	Output LogNormal `json:"output"`
}

// LogNormal is a length distribution given by its published mean and
// standard deviation, clipped to [Min, Max].
type LogNormal struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	Min  int     `json:"min"`
	Max  int     `json:"max"`
}

// LoadLengths reads a length file; "" is the shipped LMSYS-Chat-1M fit.
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
	for _, d := range []LogNormal{l.Prompt, l.Output} {
		if d.Mean <= 0 || d.Std < 0 || d.Min < 1 || d.Max < d.Min {
			return Lengths{}, fmt.Errorf("lengths %s: need mean > 0, std >= 0, 1 <= min <= max", path)
		}
	}
	return l, nil
}

// Draw samples one length.
func (d LogNormal) Draw(r *rand.Rand) int {
	s2 := math.Log1p(d.Std * d.Std / (d.Mean * d.Mean))
	mu := math.Log(d.Mean) - s2/2
	x := math.Exp(mu + math.Sqrt(s2)*r.NormFloat64())
	return min(max(int(math.Round(x)), d.Min), d.Max)
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
