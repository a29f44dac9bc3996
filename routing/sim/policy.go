package sim

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/graft-ai/graft/routing/ring"
	"github.com/graft-ai/graft/routing/spread"
)

// Policy picks a replica for a request.
type Policy interface {
	Name() string
	Pick(f *fleet, q *request) int
}

// periodic is a policy with background work: a metrics scrape, a rate sync.
type periodic interface {
	period() float64
	tick(f *fleet)
}

// fleet is what policies may look at: the replicas (exact, as a proxy's
// own in-flight counts are) and the simulated time.
type fleet struct {
	replicas     []*replica
	now          float64
	rng          *rand.Rand
	names        []string
	replicaNames []string
}

func (f *fleet) adapterName(a int) string {
	if a < len(f.names) {
		return f.names[a]
	}
	return "adapter-" + strconv.Itoa(a)
}

type roundRobin struct{ next int }

func (p *roundRobin) Name() string { return "round-robin" }
func (p *roundRobin) Pick(f *fleet, _ *request) int {
	p.next++
	return p.next % len(f.replicas)
}

// leastLoaded is Envoy's LEAST_REQUEST with all hosts compared: fewest in
// flight, ties broken at random.
type leastLoaded struct{}

func (leastLoaded) Name() string { return "least-loaded" }
func (leastLoaded) Pick(f *fleet, _ *request) int {
	best, ties := -1, 0
	for i, r := range f.replicas {
		switch {
		case best < 0 || r.inFlight < f.replicas[best].inFlight:
			best, ties = i, 1
		case r.inFlight == f.replicas[best].inFlight:
			ties++
			if f.rng.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return best
}

// snapshot is what a GIE endpoint picker knows of a pod: metrics scraped
// every Interval, so stale in between.
type snapshot struct {
	waiting, running int
	kv               float64
	active, loading  map[int]bool
	freeSlot         bool
}

// gieScorer is the Gateway API Inference Extension's default scoring: a
// queue score (fewest waiting, normalized over pods), a KV score (1 - use)
// and LoRA affinity (1.0 active, 0.8 a free slot, 0.6 loading), weighted
// and summed, the best pod chosen, ties at random.
type gieScorer struct {
	Interval           float64
	WQueue, WKV, WLoRA float64
	at                 float64
	snap               []snapshot
}

func (p *gieScorer) Name() string {
	return fmt.Sprintf("gie(q%.0f,kv%.0f,lora%.0f,%gms)", p.WQueue, p.WKV, p.WLoRA, p.Interval*1000)
}

func (p *gieScorer) scrape(f *fleet) {
	p.snap = p.snap[:0]
	for _, r := range f.replicas {
		s := snapshot{waiting: len(r.queue), running: len(r.running),
			kv: float64(r.kvUsed) / float64(r.svc.KVTokens), active: map[int]bool{}, loading: map[int]bool{},
			freeSlot: len(r.slots) < r.svc.Slots}
		for a, sl := range r.slots {
			if sl.readyAt > f.now {
				s.loading[a] = true
			} else {
				s.active[a] = true
			}
		}
		p.snap = append(p.snap, s)
	}
}

func (p *gieScorer) period() float64 { return p.Interval }
func (p *gieScorer) tick(f *fleet)   { p.scrape(f) }

func (p *gieScorer) Pick(f *fleet, q *request) int {
	if p.snap == nil {
		p.scrape(f)
	}
	minQ, maxQ := p.snap[0].waiting, p.snap[0].waiting
	for _, s := range p.snap {
		minQ, maxQ = min(minQ, s.waiting), max(maxQ, s.waiting)
	}
	best, bestScore, ties := -1, -1.0, 0
	for i, s := range p.snap {
		qs := 1.0
		if maxQ > minQ {
			qs = float64(maxQ-s.waiting) / float64(maxQ-minQ)
		}
		lora := 0.0
		switch {
		case s.active[q.adapter]:
			lora = 1
		case s.freeSlot:
			lora = 0.8
		case s.loading[q.adapter]:
			lora = 0.6
		}
		score := p.WQueue*qs + p.WKV*(1-s.kv) + p.WLoRA*lora
		switch {
		case score > bestScore+1e-12:
			best, bestScore, ties = i, score, 1
		case score > bestScore-1e-12:
			ties++
			if f.rng.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return best
}

// graftHash is production's routing: the gateway's route key (routing/
// spread, the same code) hashed by Envoy's ring with bounded load
// (routing/ring, checked against Envoy), in-flight counts as Envoy's.
type graftHash struct {
	HotRate float64
	MaxK    int
	Factor  uint32
	Window  float64 // seconds of counts k follows, as the gateway's
	keys    *spread.Keys
	lb      *ring.Bounded
	hashes  map[string]uint64
	buckets []map[string]int64
	active  []uint32
}

func (p *graftHash) Name() string {
	return fmt.Sprintf("graft(hot%g,k%d,bal%d)", p.HotRate, p.MaxK, p.Factor)
}

func (p *graftHash) init(f *fleet) {
	var hs []ring.Host
	for i := range f.replicas {
		key := "replica-" + strconv.Itoa(i)
		if i < len(f.replicaNames) {
			key = f.replicaNames[i]
		}
		hs = append(hs, ring.Host{Key: key})
	}
	p.lb = ring.NewBounded(ring.NewRing(hs, ring.DefaultMinRingSize, ring.DefaultMaxRingSize), hs, p.Factor)
	p.keys = spread.New(p.HotRate, p.MaxK)
	p.hashes = map[string]uint64{}
	p.active = make([]uint32, len(f.replicas))
}

func (p *graftHash) period() float64 { return 1 }

// tick is the gateway's once-a-second flush: this second's counts join the
// window and every adapter's k follows the window's rate.
func (p *graftHash) tick(f *fleet) {
	if p.lb == nil {
		p.init(f)
	}
	{
		p.buckets = append(p.buckets, p.keys.Drain())
		if w := int(p.Window); len(p.buckets) > w {
			p.buckets = p.buckets[len(p.buckets)-w:]
		}
		sums := map[string]int64{}
		for _, b := range p.buckets {
			for a, n := range b {
				sums[a] += n
			}
		}
		p.keys.Update(sums, float64(len(p.buckets)))
	}
}

func (p *graftHash) Pick(f *fleet, q *request) int {
	if p.lb == nil {
		p.init(f)
	}
	key := p.keys.RouteKey(f.adapterName(q.adapter))
	h, ok := p.hashes[key]
	if !ok {
		h = ring.HashKey(key)
		p.hashes[key] = h
	}
	total := uint32(0)
	for i, r := range f.replicas {
		p.active[i] = uint32(r.inFlight)
		total += p.active[i]
	}
	return p.lb.Pick(h, p.active, total)
}

// ParsePolicy reads "rr", "least", "gie[:q,kv,lora[,interval_ms]]" or
// "graft[:hotRate,maxK,factor]".
func ParsePolicy(s string) (Policy, error) {
	name, args, _ := strings.Cut(s, ":")
	var nums []float64
	if args != "" {
		for _, a := range strings.Split(args, ",") {
			v, err := strconv.ParseFloat(a, 64)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("policy %q: %q is not a non-negative number", s, a)
			}
			nums = append(nums, v)
		}
	}
	arg := func(i int, def float64) float64 {
		if i < len(nums) {
			return nums[i]
		}
		return def
	}
	switch name {
	case "rr":
		return &roundRobin{}, nil
	case "least":
		return leastLoaded{}, nil
	case "gie":
		p := &gieScorer{WQueue: arg(0, 1), WKV: arg(1, 1), WLoRA: arg(2, 1), Interval: arg(3, 50) / 1000}
		if p.Interval <= 0 {
			return nil, fmt.Errorf("policy %q: scrape interval must be positive", s)
		}
		return p, nil
	case "graft":
		p := &graftHash{HotRate: arg(0, 8), MaxK: int(arg(1, 8)), Factor: uint32(arg(2, ring.BalanceFactor)), Window: 5}
		if p.HotRate <= 0 || p.MaxK < 1 {
			return nil, fmt.Errorf("policy %q: hot rate must be positive and max k at least 1", s)
		}
		return p, nil
	}
	return nil, fmt.Errorf("policy %q: want rr, least, gie[:q,kv,lora,ms] or graft[:hot,k,factor]", s)
}
