// Package scheduler is Graft's continuous-batching scheduler. Following vLLM v1 it
// has no prefill and decode phases: every step, each running request's computed
// token count catches up with its length within a global token budget, so a long
// prompt is computed in chunks between the decodes of others. It works on plain
// data (counts, ids, block numbers); the model runner turns an Output into tensors.
//
// The engine loop calls Schedule, runs the step, then Update, and repeats. Add and
// Cancel may be called from any goroutine.
package scheduler

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/graft-ai/graft/engine/kvcache"
)

// Config bounds each step.
type Config struct {
	// MaxNumSeqs caps the running requests (and so the sequences per step).
	MaxNumSeqs int
	// MaxNumBatchedTokens is the token budget of one step.
	MaxNumBatchedTokens int
	// LongPrefillThreshold caps the tokens one request computes per step; 0 means
	// the whole budget.
	LongPrefillThreshold int
	// MaxModelLen is the longest sequence (prompt plus output) the model takes.
	MaxModelLen int
	// MaxActiveAdapters caps the distinct LoRA adapters among running requests
	// (the runner's adapter slots); 0 means no limit.
	MaxActiveAdapters int
	// AdapterCycle is how long an adapter keeps admitting requests while others
	// wait for a slot; default 2 s (LoRAX's adapter_cycle_time_s).
	AdapterCycle time.Duration
	// MaxWaiting caps the requests waiting to start (new or preempted); Add
	// refuses more with ErrQueueFull. 0 means no limit.
	MaxWaiting int
	// PrefixCaching reuses cached K/V blocks of requests' BlockHashes.
	PrefixCaching bool
	// Now is the clock (time.Now when nil); tests replace it.
	Now func() time.Time
}

// ErrQueueFull is Add's refusal when Config.MaxWaiting requests wait.
var ErrQueueFull = errors.New("scheduler: the waiting queue is full")

func (c Config) validate() error {
	switch {
	case c.MaxNumSeqs <= 0:
		return fmt.Errorf("scheduler: MaxNumSeqs %d must be positive", c.MaxNumSeqs)
	case c.MaxNumBatchedTokens <= 0:
		return fmt.Errorf("scheduler: MaxNumBatchedTokens %d must be positive", c.MaxNumBatchedTokens)
	case c.LongPrefillThreshold < 0:
		return fmt.Errorf("scheduler: LongPrefillThreshold %d must not be negative", c.LongPrefillThreshold)
	case c.MaxModelLen <= 0:
		return fmt.Errorf("scheduler: MaxModelLen %d must be positive", c.MaxModelLen)
	case c.MaxActiveAdapters < 0:
		return fmt.Errorf("scheduler: MaxActiveAdapters %d must not be negative", c.MaxActiveAdapters)
	case c.MaxWaiting < 0:
		return fmt.Errorf("scheduler: MaxWaiting %d must not be negative", c.MaxWaiting)
	}
	return nil
}

// chunkCap is the most tokens one request computes in a step.
func (c Config) chunkCap() int {
	if c.LongPrefillThreshold > 0 {
		return min(c.LongPrefillThreshold, c.MaxNumBatchedTokens)
	}
	return c.MaxNumBatchedTokens
}

// Scheduler decides, step by step, which requests compute how many tokens, and
// pages their KV cache in a kvcache.BlockPool it owns.
type Scheduler struct {
	cfg  Config
	pool *kvcache.BlockPool

	mu          sync.Mutex
	byID        map[uint64]*Request
	running     []*Request // holding blocks, by arrival
	waiting     []*Request // holding none, by arrival; preempted ones come back first
	arrivals    uint64
	finishedIDs []uint64 // finished since the last Schedule
	finishedNow []Finished
	out         Output
	adapters    *adapterSet
	copies      []pendingCopy // block copies of forks made since the last Schedule
	forkWaiting []uint64      // forks that found no block and wait to recompute
	prefix      PrefixStats
}

// pendingCopy is a forked request's block copy, dropped if the request lost its
// blocks before the runner saw it.
type pendingCopy struct {
	r *Request
	c kvcache.BlockCopy
}

// New returns a scheduler that pages its requests' KV cache in pool. The pool is
// the scheduler's alone from now on.
func New(cfg Config, pool *kvcache.BlockPool) (*Scheduler, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if pool == nil {
		return nil, errors.New("scheduler: nil block pool")
	}
	if cfg.AdapterCycle <= 0 {
		cfg.AdapterCycle = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Scheduler{cfg: cfg, pool: pool, byID: make(map[uint64]*Request),
		adapters: newAdapterSet(cfg.MaxActiveAdapters, cfg.AdapterCycle)}, nil
}

// Add queues r. It rejects requests that could never run: an empty or too long
// prompt, no tokens to generate, a cache need larger than the whole pool, or an ID
// already queued or running.
func (s *Scheduler) Add(r *Request) error {
	if err := s.admissible(r); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.byID[r.ID]; dup {
		return fmt.Errorf("scheduler: request %d is already queued or running", r.ID)
	}
	if s.cfg.MaxWaiting > 0 && len(s.waiting) >= s.cfg.MaxWaiting {
		return ErrQueueFull
	}
	s.arrivals++
	r.Arrival = s.arrivals
	r.Status, r.Reason = StatusWaiting, ""
	r.NumOutputTokens, r.NumComputed, r.fork, r.registered = 0, 0, 0, 0
	s.byID[r.ID] = r
	s.waiting = append(s.waiting, r)
	return nil
}

// admissible only reads configuration and r, so it needs no lock.
func (s *Scheduler) admissible(r *Request) error {
	switch {
	case r.NumPromptTokens <= 0:
		return fmt.Errorf("scheduler: request %d has an empty prompt", r.ID)
	case r.NumPromptTokens > s.cfg.MaxModelLen:
		return fmt.Errorf("scheduler: request %d: prompt of %d tokens exceeds the model's maximum length %d",
			r.ID, r.NumPromptTokens, s.cfg.MaxModelLen)
	case r.MaxTokens <= 0:
		return fmt.Errorf("scheduler: request %d: MaxTokens %d must be positive", r.ID, r.MaxTokens)
	case r.N > s.cfg.MaxNumSeqs:
		return fmt.Errorf("scheduler: request %d: %d sequences exceed MaxNumSeqs %d", r.ID, r.N, s.cfg.MaxNumSeqs)
	}
	need := s.pool.BlocksFor(r.maxComputed(s.cfg.MaxModelLen))
	if need > s.pool.NumTotal() {
		return fmt.Errorf("scheduler: request %d needs up to %d KV-cache blocks of %d tokens; the pool has %d",
			r.ID, need, s.pool.BlockSize(), s.pool.NumTotal())
	}
	return nil
}

// Cancel ends request id and frees its blocks before it returns, so a client that
// goes away gives its cache back at once. It reports whether id was queued or
// running. A step already handed to the runner may still name id; its blocks are
// not handed out again before the next Schedule, and the next Output lists id in
// Finished.
func (s *Scheduler) Cancel(id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byID[id]
	if !ok {
		return false
	}
	if r.Status == StatusRunning {
		s.running = remove(s.running, r)
	} else {
		s.waiting = remove(s.waiting, r)
	}
	s.finish(r, FinishCancelled)
	return true
}

// finish frees r's blocks and forgets it. The caller removes it from its queue.
func (s *Scheduler) finish(r *Request, why FinishReason) {
	if r.Status == StatusRunning {
		s.adapters.leave(r.Adapter)
	}
	s.release(r)
	r.Status, r.Reason = StatusFinished, why
	delete(s.byID, r.ID)
	s.finishedIDs = append(s.finishedIDs, r.ID)
}

// release frees r's blocks. The scheduler is the only owner of tables, so a bad
// free is a scheduler bug; BlockPool counts it and Check reports it.
func (s *Scheduler) release(r *Request) {
	_ = r.table.Release(s.pool)
	r.registered = 0
}

func remove(q []*Request, r *Request) []*Request {
	if i := slices.Index(q, r); i >= 0 {
		return slices.Delete(q, i, i+1)
	}
	return q
}

// SequenceCount is how many sequences of one adapter run and wait.
type SequenceCount struct{ Running, Waiting int }

// AdapterSequences counts the running and waiting sequences of each adapter
// (a request not yet forked counts its N sequences); the base model is "".
func (s *Scheduler) AdapterSequences() map[string]SequenceCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]SequenceCount{}
	for _, r := range s.running {
		c := out[r.Adapter]
		c.Running += r.seats()
		out[r.Adapter] = c
	}
	for _, r := range s.waiting {
		c := out[r.Adapter]
		c.Waiting += r.seats()
		out[r.Adapter] = c
	}
	return out
}

// PauseAdapter stops admitting requests for adapter name (its weights are not
// ready to run) until ResumeAdapter; running ones go on, others are admitted
// past the paused ones.
func (s *Scheduler) PauseAdapter(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.adapters.paused[name] = true
}

// ResumeAdapter lets requests for adapter name be admitted again.
func (s *Scheduler) ResumeAdapter(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.adapters.paused, name)
}

// Stats is a snapshot for load reports.
type Stats struct {
	Waiting, Running       int
	FreeBlocks, BlockTotal int
	Prefix                 PrefixStats
}

// PrefixStats counts prefix-cache lookups in tokens, as vLLM does: Queries the
// tokens of each admitted request (again after a preemption), Hits those found
// cached.
type PrefixStats struct {
	Queries, Hits uint64
	CachedBlocks  int    // blocks holding a cached prefix, in use or free
	Evictions     uint64 // cached blocks reused for other contents
}

// Stats reports queue lengths and cache use.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Waiting:    len(s.waiting),
		Running:    len(s.running),
		FreeBlocks: s.pool.NumFree(),
		BlockTotal: s.pool.NumTotal(),
		Prefix: PrefixStats{Queries: s.prefix.Queries, Hits: s.prefix.Hits,
			CachedBlocks: s.pool.NumCachedBlocks(), Evictions: s.pool.Evictions()},
	}
}
