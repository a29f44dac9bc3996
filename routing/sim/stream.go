package sim

import "math/rand/v2"

// Arrival is one request of the simulator's traffic.
type Arrival struct {
	At                      float64 // seconds from the start
	Adapter, Prompt, Output int
}

// Stream is the simulator's traffic generator on its own, to drive a real
// fleet with the requests a simulation of cfg (without drift) sees: same
// seed, same draws in the same order, so the same requests.
type Stream struct {
	cfg  Config
	work *rand.Rand
	pop  *popularity
	arr  *arrivals
	next float64
}

// NewStream starts cfg's request stream.
func NewStream(cfg Config) *Stream {
	s := &Stream{cfg: cfg, work: rand.New(rand.NewPCG(cfg.Seed, 1)), pop: newPopularity(cfg.Adapters, cfg.ZipfS),
		arr: &arrivals{rate: cfg.Rate(), bursty: cfg.Bursty, meanOn: cfg.MeanOn, meanOff: cfg.MeanOff}}
	s.next = s.arr.next(s.work, 0)
	return s
}

// Next returns the next request.
func (s *Stream) Next() Arrival {
	a := Arrival{At: s.next, Adapter: s.pop.draw(s.work),
		Prompt: s.cfg.Lengths.Prompt.Draw(s.work), Output: s.cfg.Lengths.Output.Draw(s.work)}
	s.next = s.arr.next(s.work, s.next)
	return a
}
