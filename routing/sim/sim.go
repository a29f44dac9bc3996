// Package sim is a discrete-event simulator of a fleet of replicas behind
// Graft's routing. Graft's policy runs the production code itself: the
// gateway's route-key choice (routing/spread) and Envoy's ring hash with
// bounded load (routing/ring, checked against a real Envoy), so the fleet
// behaviour it shows is what those choices produce.
package sim

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// Config is one simulated scenario; every policy of a run sees the same
// requests (same seed).
type Config struct {
	Replicas, Adapters int
	ZipfS              float64 // adapter popularity exponent
	DriftEvery         float64 // seconds between popularity drifts (0: none)
	DriftTop           int     // ranks that may trade adapters in a drift
	DriftFrac          float64 // chance each of them does
	Bursty             bool    // on/off arrivals instead of Poisson
	MeanOn, MeanOff    float64 // seconds, when bursty
	Load               float64 // offered load as a fraction of the fleet's estimated capacity
	Duration, Warmup   float64 // seconds of arrivals; the first Warmup are not measured
	Seed               uint64
	Service            Service
	Lengths            Lengths
	// Replay, when set, is the request stream instead of the generator's
	// (a real run's requests with their actual output lengths).
	Replay []Arrival
	// AdapterNames, when set, names adapter i (route keys hash the name);
	// default "adapter-i".
	AdapterNames []string
	// ReplicaNames, when set, are the replicas' ids (their ring hash keys);
	// default "replica-i".
	ReplicaNames []string
	// Warm, when set, is what replica i holds at the start, as a real
	// fleet's engines after its calibration requests; default cold.
	Warm []Resident
}

// Resident is what a replica holds before the first request: adapters in
// slots and adapters only in host memory, each least recently used first.
// Putting them there is not counted as loads.
type Resident struct {
	Slots, Host []int
}

// Result is one policy's figures for one scenario.
type Result struct {
	Policy             string
	Replicas, Adapters int
	Bursty             bool
	Rate               float64 // offered requests/s
	Requests           int     // measured (arrived after warm-up)
	Throughput         float64 // completed requests/s in the measured window
	TokensPerSec       float64 // output tokens/s in the measured window
	TTFT50, TTFT99     float64 // seconds
	E2E50, E2E99       float64
	LoadsPer1k         float64 // adapter loads into a slot per 1000 requests
	RemoteLoadsPer1k   float64 // of them, loads missing the host cache
	WaitedLoad         float64 // fraction of requests that waited for a load
	Imbalance          float64 // max/mean of tokens routed to each replica
	Unfinished         int     // measured requests still running when the drain ended
	Makespan           float64 // first measured arrival to last completion, seconds
	PerReplica         []int   // measured requests routed to each replica
	Wall               time.Duration
}

// Capacity estimates requests/s one replica completes at a full batch: as
// many sequences as max_batch allows and the KV cache holds at mean lengths
// (with chat-trace prompts of ~1k tokens the KV cache binds first).
func (c Config) Capacity() float64 {
	s := c.Service
	prompt, output := c.Lengths.Prompt.Mean(), c.Lengths.Output.Mean()
	b := max(min(s.MaxBatch, int(float64(s.KVTokens)/(prompt+output))), 1)
	perTok := s.step(b, min(b, s.Slots), 0) / float64(b)
	return 1 / (output*perTok + prompt*s.PrefillPerToken)
}

// Rate is the offered requests/s.
func (c Config) Rate() float64 { return c.Load * c.Capacity() * float64(c.Replicas) }

const (
	evArrival = iota
	evStep
	evWake
	evTick
	evDrift
	evWarm
)

type event struct {
	t    float64
	kind int
	r    int
	seq  int
}

type events []event

func (e events) Len() int { return len(e) }
func (e events) Less(i, j int) bool {
	if e[i].t != e[j].t {
		return e[i].t < e[j].t
	}
	return e[i].seq < e[j].seq
}
func (e events) Swap(i, j int) { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)   { *e = append(*e, x.(event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

type run struct {
	cfg                   Config
	f                     *fleet
	ev                    events
	seq                   int
	work                  *rand.Rand // the request stream: identical across policies
	pop                   *popularity
	arr                   *arrivals
	policy                Policy
	reqs                  []*request
	routed                []int // tokens routed to each replica after warm-up
	warmLoads, warmRemote int
	warm                  bool
	replayed              int
}

func (r *run) push(t float64, kind, rep int) {
	r.seq++
	heap.Push(&r.ev, event{t: t, kind: kind, r: rep, seq: r.seq})
}

// Run simulates cfg under p.
func Run(cfg Config, p Policy) (Result, error) {
	start := time.Now()
	r, err := simulate(cfg, p)
	if err != nil {
		return Result{}, err
	}
	return r.result(time.Since(start)), nil
}

func simulate(cfg Config, p Policy) (*run, error) {
	if cfg.Replicas < 1 || cfg.Adapters < 1 || cfg.Load <= 0 || cfg.Duration <= cfg.Warmup {
		return nil, fmt.Errorf("sim: need replicas, adapters, load > 0 and duration > warm-up")
	}
	r := &run{cfg: cfg, policy: p,
		f:      &fleet{rng: rand.New(rand.NewPCG(cfg.Seed, 2)), names: cfg.AdapterNames, replicaNames: cfg.ReplicaNames},
		work:   rand.New(rand.NewPCG(cfg.Seed, 1)),
		pop:    newPopularity(cfg.Adapters, cfg.ZipfS),
		arr:    &arrivals{rate: cfg.Rate(), bursty: cfg.Bursty, meanOn: cfg.MeanOn, meanOff: cfg.MeanOff},
		routed: make([]int, cfg.Replicas)}
	for i := range cfg.Replicas {
		rep := newReplica(i, &r.cfg.Service)
		if i < len(cfg.Warm) {
			rep.warm(cfg.Warm[i])
		}
		r.f.replicas = append(r.f.replicas, rep)
	}
	if cfg.Replay != nil {
		if len(cfg.Replay) > 0 {
			r.push(cfg.Replay[0].At, evArrival, -1)
		}
	} else {
		r.push(r.arr.next(r.work, 0), evArrival, -1)
	}
	if pp, ok := p.(periodic); ok {
		r.push(pp.period(), evTick, -1)
	}
	if cfg.DriftEvery > 0 {
		r.push(cfg.DriftEvery, evDrift, -1)
	}
	r.push(cfg.Warmup, evWarm, -1)
	// Drain: no arrivals after Duration; stop once idle or long after.
	limit := cfg.Duration * 3
	for r.ev.Len() > 0 {
		e := heap.Pop(&r.ev).(event)
		if e.t > limit {
			break
		}
		r.f.now = e.t
		r.handle(e)
	}
	return r, nil
}

func (r *run) handle(e event) {
	switch e.kind {
	case evArrival:
		r.arrive()
		if r.cfg.Replay != nil {
			if r.replayed < len(r.cfg.Replay) {
				r.push(r.cfg.Replay[r.replayed].At, evArrival, -1)
			}
		} else if t := r.arr.next(r.work, e.t); t < r.cfg.Duration {
			r.push(t, evArrival, -1)
		}
	case evStep:
		rep := r.f.replicas[e.r]
		rep.busy = false
		rep.finishStep(e.t)
		r.kick(rep)
	case evWake:
		r.kick(r.f.replicas[e.r])
	case evTick:
		pp := r.policy.(periodic)
		pp.tick(r.f)
		if e.t < r.cfg.Duration {
			r.push(e.t+pp.period(), evTick, -1)
		}
	case evDrift:
		r.pop.drift(r.work, r.cfg.DriftTop, r.cfg.DriftFrac)
		if e.t+r.cfg.DriftEvery < r.cfg.Duration {
			r.push(e.t+r.cfg.DriftEvery, evDrift, -1)
		}
	case evWarm:
		r.warm = true
		for _, rep := range r.f.replicas {
			r.warmLoads += rep.loads
			r.warmRemote += rep.remoteLoads
		}
	}
}

func (r *run) arrive() {
	var q *request
	if rp := r.cfg.Replay; len(rp) > 0 {
		a := rp[r.replayed]
		r.replayed++
		q = &request{id: len(r.reqs), adapter: a.Adapter, arrive: r.f.now, prompt: a.Prompt, output: max(a.Output, 1)}
	} else {
		q = &request{id: len(r.reqs), adapter: r.pop.draw(r.work), arrive: r.f.now,
			prompt: r.cfg.Lengths.Prompt.Draw(r.work), output: r.cfg.Lengths.Output.Draw(r.work)}
	}
	q.replica = r.policy.Pick(r.f, q)
	rep := r.f.replicas[q.replica]
	rep.queue = append(rep.queue, q)
	rep.inFlight++
	if r.warm {
		r.reqs = append(r.reqs, q)
		r.routed[q.replica] += q.prompt + q.output
	}
	r.kick(rep)
}

// kick starts a step on an idle replica if it has work it can run, or
// sets a wake-up for when the next load completes.
func (r *run) kick(rep *replica) {
	if rep.busy {
		return
	}
	rep.admit(r.f.now)
	if len(rep.running) > 0 {
		prefill := rep.plan()
		rep.busy = true
		r.push(r.f.now+rep.svc.step(len(rep.running), rep.distinctAdapters(), prefill), evStep, rep.id)
		return
	}
	if len(rep.queue) > 0 {
		if t := rep.nextReady(r.f.now); t > 0 && t != rep.wakeAt {
			rep.wakeAt = t
			r.push(t, evWake, rep.id)
		}
	}
}

func (r *run) result(wall time.Duration) Result {
	c := r.cfg
	res := Result{Policy: r.policy.Name(), Replicas: c.Replicas, Adapters: c.Adapters, Bursty: c.Bursty,
		Rate: c.Rate(), Requests: len(r.reqs), Wall: wall}
	var ttft, e2e []float64
	waited, doneInWindow, tokInWindow := 0, 0, 0
	res.PerReplica = make([]int, c.Replicas)
	lastEnd := 0.0
	for _, q := range r.reqs {
		res.PerReplica[q.replica]++
		lastEnd = max(lastEnd, q.end)
		if q.waitedLoad {
			waited++
		}
		if q.end == 0 {
			res.Unfinished++
			continue
		}
		ttft = append(ttft, q.firstToken-q.arrive+c.Service.Overhead)
		e2e = append(e2e, q.end-q.arrive+c.Service.Overhead)
		if q.end <= c.Duration {
			doneInWindow++
			tokInWindow += q.output
		}
	}
	if len(r.reqs) > 0 {
		res.Makespan = lastEnd - r.reqs[0].arrive
	}
	window := c.Duration - c.Warmup
	res.Throughput = float64(doneInWindow) / window
	res.TokensPerSec = float64(tokInWindow) / window
	res.TTFT50, res.TTFT99 = quantile(ttft, 0.5), quantile(ttft, 0.99)
	res.E2E50, res.E2E99 = quantile(e2e, 0.5), quantile(e2e, 0.99)
	loads, remote := -r.warmLoads, -r.warmRemote
	for _, rep := range r.f.replicas {
		loads += rep.loads
		remote += rep.remoteLoads
	}
	if n := float64(len(r.reqs)); n > 0 {
		res.LoadsPer1k = float64(loads) * 1000 / n
		res.RemoteLoadsPer1k = float64(remote) * 1000 / n
		res.WaitedLoad = float64(waited) / n
	}
	sum, most := 0, 0
	for _, t := range r.routed {
		sum += t
		most = max(most, t)
	}
	if sum > 0 {
		res.Imbalance = float64(most) / (float64(sum) / float64(len(r.routed)))
	}
	return res
}

func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[min(int(q*float64(len(xs))), len(xs)-1)]
}
