package sim

import (
	"container/list"
	"math"
)

// Service is a replica's cost model: the time of one continuous-batching
// step and of making an adapter resident.
type Service struct {
	Source          string  `json:"source"`
	StepBase        float64 `json:"step_base_s"`         // fixed cost of a decode step
	StepPerSeq      float64 `json:"step_per_seq_s"`      // per running sequence
	StepPerAdapter  float64 `json:"step_per_adapter_s"`  // per distinct adapter in the batch
	PrefillPerToken float64 `json:"prefill_per_token_s"` // prompt tokens admitted in a step
	LoadHost        float64 `json:"load_host_s"`         // host cache → adapter slot
	LoadRemote      float64 `json:"load_remote_s"`       // disk or remote store → slot
	Slots           int     `json:"slots"`               // adapters resident at once
	HostCache       int     `json:"host_cache"`          // adapters kept in host memory
	MaxBatch        int     `json:"max_batch"`           // running sequences
	KVTokens        int     `json:"kv_tokens"`           // KV cache capacity in tokens
	// MaxBatchedTokens is the tokens one step computes, prompt chunks and
	// decodes (the engine's MaxBatchedTokens, vLLM's chunked prefill);
	// 0 runs every admitted prompt whole in one step.
	MaxBatchedTokens int     `json:"max_batched_tokens,omitempty"`
	Overhead         float64 `json:"overhead_s,omitempty"` // per request outside the engine: HTTP, gateway, Envoy
}

func (s Service) step(seqs, adapters, prefill int) float64 {
	return s.StepBase + s.StepPerSeq*float64(seqs) + s.StepPerAdapter*float64(adapters) + s.PrefillPerToken*float64(prefill)
}

type request struct {
	id              int
	adapter         int
	prompt, output  int
	arrive          float64
	firstToken, end float64
	done            int // tokens generated
	prefilled       int // prompt tokens computed
	chunk           int // prompt tokens the step in flight computes
	waitedLoad      bool
	replica         int
}

type slot struct {
	adapter  int
	readyAt  float64 // loading until then
	users    int     // running requests on it
	lastUsed float64
}

// replica is one engine: a FIFO queue, a running batch, adapter slots
// (LRU among idle ones) and an LRU host cache of adapter weights.
type replica struct {
	id                 int
	svc                *Service
	queue              []*request
	running            []*request
	slots              map[int]*slot
	host               *lru
	busy               bool    // a step is in flight
	wakeAt             float64 // a wake-up already set for then
	kvUsed             int     // tokens held by running sequences
	served             int     // tokens (prompt + output) of requests it finished
	inFlight           int     // queued + running: Envoy's rq_active for this host
	loads, remoteLoads int
}

func newReplica(id int, svc *Service) *replica {
	return &replica{id: id, svc: svc, slots: map[int]*slot{}, host: newLRU(svc.HostCache)}
}

// warm makes w resident without counting loads; slots beyond the
// replica's keep the most recently used.
func (r *replica) warm(w Resident) {
	for _, a := range w.Host {
		r.host.touch(a)
	}
	for _, a := range w.Slots[max(len(w.Slots)-r.svc.Slots, 0):] {
		r.host.touch(a)
		r.slots[a] = &slot{adapter: a}
	}
}

// admit moves queued requests into the batch where their adapter is
// resident, starting loads for others while slots allow; a request whose
// adapter cannot get a slot waits without blocking those behind it, as
// vLLM's LoRA scheduling does. A request the KV cache cannot hold yet
// starts no load: it would be evicted, unused, before it could run.
func (r *replica) admit(now float64) {
	kept := r.queue[:0]
	for i, q := range r.queue {
		if len(r.running) >= r.svc.MaxBatch || i > 256 {
			kept = append(kept, r.queue[i:]...)
			break
		}
		if r.kvUsed+q.prompt+q.output > r.svc.KVTokens && len(r.running) > 0 {
			kept = append(kept, q)
			continue
		}
		s := r.slots[q.adapter]
		if s == nil {
			if s = r.load(q.adapter, now); s == nil {
				kept = append(kept, q)
				continue
			}
		}
		if s.readyAt > now {
			q.waitedLoad = true
			kept = append(kept, q)
			continue
		}
		s.users++
		s.lastUsed = now
		r.kvUsed += q.prompt + q.output
		r.running = append(r.running, q)
	}
	r.queue = kept
}

// plan sets each running request's prompt chunk for the next step, oldest
// first, within the step's token budget after one token per decoding
// request, and returns the prompt tokens the step computes.
func (r *replica) plan() (prefill int) {
	budget := math.MaxInt
	if r.svc.MaxBatchedTokens > 0 {
		budget = r.svc.MaxBatchedTokens
		for _, q := range r.running {
			if q.prefilled >= q.prompt {
				budget--
			}
		}
	}
	for _, q := range r.running {
		q.chunk = min(max(q.prompt-q.prefilled, 0), max(budget, 0))
		budget -= q.chunk
		prefill += q.chunk
	}
	return prefill
}

// nextReady is when the first slot still loading becomes ready, 0 if none:
// an idle replica with queued requests must wake then, whoever started the
// load.
func (r *replica) nextReady(now float64) float64 {
	t := 0.0
	for _, s := range r.slots {
		if s.readyAt > now && (t == 0 || s.readyAt < t) {
			t = s.readyAt
		}
	}
	return t
}

// load gives adapter a slot, evicting the least recently used idle one;
// nil when every slot is in use.
func (r *replica) load(adapter int, now float64) *slot {
	if len(r.slots) >= r.svc.Slots {
		var victim *slot
		for _, s := range r.slots {
			// Ties (slots freed by one step) go to the lower id: map order
			// must not decide, or one seed gives two outcomes.
			if s.users == 0 && s.readyAt <= now && (victim == nil || s.lastUsed < victim.lastUsed ||
				s.lastUsed == victim.lastUsed && s.adapter < victim.adapter) {
				victim = s
			}
		}
		if victim == nil {
			return nil
		}
		delete(r.slots, victim.adapter)
	}
	d := r.svc.LoadHost
	if !r.host.touch(adapter) {
		d = r.svc.LoadRemote
		r.remoteLoads++
	}
	r.loads++
	s := &slot{adapter: adapter, readyAt: now + d, lastUsed: now}
	r.slots[adapter] = s
	return s
}

func (r *replica) distinctAdapters() int {
	n := 0
	for _, s := range r.slots {
		if s.users > 0 {
			n++
		}
	}
	return n
}

// finishStep credits one token to every running request and returns the
// finished ones.
func (r *replica) finishStep(now float64) []*request {
	var done []*request
	kept := r.running[:0]
	for _, q := range r.running {
		if q.prefilled < q.prompt {
			if q.prefilled += q.chunk; q.prefilled < q.prompt {
				kept = append(kept, q) // its prompt is not all in yet
				continue
			}
		}
		q.done++
		if q.done == 1 {
			q.firstToken = now
		}
		if q.done >= q.output {
			q.end = now
			done = append(done, q)
			s := r.slots[q.adapter]
			s.users--
			s.lastUsed = now
			r.kvUsed -= q.prompt + q.output
			r.served += q.prompt + q.output
			r.inFlight--
			continue
		}
		kept = append(kept, q)
	}
	r.running = kept
	return done
}

// lru is a set of adapters with least-recently-used eviction.
type lru struct {
	cap   int
	order *list.List
	at    map[int]*list.Element
}

func newLRU(n int) *lru { return &lru{cap: n, order: list.New(), at: map[int]*list.Element{}} }

// touch marks adapter used, inserting it (evicting the oldest) if absent;
// it reports whether it was present.
func (l *lru) touch(adapter int) bool {
	if e, ok := l.at[adapter]; ok {
		l.order.MoveToFront(e)
		return true
	}
	l.at[adapter] = l.order.PushFront(adapter)
	if l.order.Len() > l.cap {
		old := l.order.Back()
		l.order.Remove(old)
		delete(l.at, old.Value.(int))
	}
	return false
}
