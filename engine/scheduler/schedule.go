package scheduler

import (
	"slices"

	"github.com/graft-ai/graft/engine/kvcache"
)

// Schedule plans the next step: first the running requests in arrival order (a
// decode costs one token, an unfinished prefill continues in a chunk), then the
// waiting ones, first come first served, while the budget, MaxNumSeqs and free
// blocks allow. When a running request cannot get a block, the most recently
// arrived running request is preempted, until the allocation succeeds or the
// request itself was the one preempted; then no request is admitted this step.
//
// The returned Output is reused: it is valid until the next Schedule. Call Update
// with it once the runner has executed it.
func (s *Scheduler) Schedule() *Output {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out.reset(s.finishedIDs)
	s.finishedIDs = s.finishedIDs[:0]
	st := step{budget: s.cfg.MaxNumBatchedTokens, cap: s.cfg.chunkCap()}
	s.scheduleRunning(&st)
	if len(s.out.Preempted) == 0 {
		st.adapters = s.adapters.admission(s.waiting, s.cfg.Now())
		s.admitWaiting(&st)
	}
	s.out.ActiveAdapters = s.adapters.sorted()
	s.takeCopies()
	// Forks that got no block are preempted as far as the runner knows: it
	// holds state for them from the step that forked them.
	s.out.Preempted = append(s.out.Preempted, s.forkWaiting...)
	s.forkWaiting = s.forkWaiting[:0]
	return &s.out
}

// takeCopies hands the runner the block copies of forks whose request still
// holds its blocks: one preempted or cancelled since needs none.
func (s *Scheduler) takeCopies() {
	s.out.Copies = s.out.Copies[:0]
	for _, pc := range s.copies {
		if pc.r.Status == StatusRunning {
			s.out.Copies = append(s.out.Copies, pc.c)
		}
	}
	clear(s.copies)
	s.copies = s.copies[:0]
}

func (s *Scheduler) scheduleRunning(st *step) {
	// Preemption only removes from the tail, past i, so i stays valid.
	for i := 0; i < len(s.running) && st.budget > 0; i++ {
		r := s.running[i]
		n := st.chunk(r)
		if n <= 0 {
			continue // waiting for the runner to append a token
		}
		if !s.grow(r, n) {
			return // r itself was preempted: it was the last running request
		}
		s.plan(st, r, n, false)
	}
}

// grow makes r's table cover n more tokens, preempting from the youngest running
// request until it fits. It reports false if r had to be preempted.
func (s *Scheduler) grow(r *Request, n int) bool {
	for !r.table.EnsureCapacity(s.pool, r.NumComputed+n) {
		victim := s.running[len(s.running)-1]
		s.running = s.running[:len(s.running)-1]
		s.preempt(victim)
		if victim == r {
			return false
		}
	}
	return true
}

// preempt frees all of r's blocks and queues it to recompute its prompt and
// generated tokens. Being younger than every running request and older than every
// waiting one (FCFS admission), it goes to the front of the queue.
func (s *Scheduler) preempt(r *Request) {
	s.adapters.leave(r.Adapter)
	s.release(r)
	r.NumComputed = 0
	r.Status = StatusPreempted
	s.waiting = insertByArrival(s.waiting, r)
	s.out.Preempted = append(s.out.Preempted, r.ID)
}

func (s *Scheduler) admitWaiting(st *step) {
	seats := s.cfg.MaxNumSeqs - s.seatsTaken()
	for i := 0; i < len(s.waiting) && st.budget > 0 && seats > 0; {
		r := s.waiting[i]
		if !st.canAdmit(r) || s.awaitsPrefix(st, r) {
			i++
			continue
		}
		if r.seats() > seats {
			return // FCFS: its forks need the seats; nobody overtakes it
		}
		n, ok := s.allocatePrompt(st, r)
		if !ok {
			return // FCFS: nobody overtakes the oldest waiting request
		}
		s.waiting = slices.Delete(s.waiting, i, i+1)
		s.adapters.join(r.Adapter, st.adapters.now)
		r.Status = StatusRunning
		s.running = insertByArrival(s.running, r)
		seats -= r.seats()
		s.plan(st, r, n, true)
	}
}

// allocatePrompt gives waiting request r the cached blocks of its longest
// cached prefix and fresh blocks for the chunk it computes now, and returns the
// chunk; or takes nothing and reports false when too few blocks are free.
func (s *Scheduler) allocatePrompt(st *step, r *Request) (int, bool) {
	hit := s.cachedPrefix(r)
	computed := len(hit) * s.pool.BlockSize()
	n := min(r.NumTokens()-computed, st.cap, st.budget)
	fresh := s.pool.BlocksFor(computed+n) - len(hit)
	if fresh > s.pool.NumFree()-s.pool.NumCachedFree(hit) {
		return 0, false
	}
	r.table.AdoptCached(s.pool, hit)
	r.NumComputed, r.registered = computed, len(hit)
	if !r.table.EnsureCapacity(s.pool, computed+n) {
		panic("scheduler: counted free blocks vanished") // checked just above
	}
	if st.pending != nil {
		for _, h := range r.BlockHashes[len(hit):] {
			st.pending[h] = true
		}
	}
	if s.cfg.PrefixCaching {
		s.prefix.Queries += uint64(r.NumTokens())
		s.prefix.Hits += uint64(computed)
	}
	return n, true
}

// cachedPrefix returns the blocks of r's longest cached prefix, leaving at
// least one token to compute: the step that samples needs its logits.
func (s *Scheduler) cachedPrefix(r *Request) []int32 {
	if !s.cfg.PrefixCaching {
		return nil
	}
	limit := min(len(r.BlockHashes), (r.NumTokens()-1)/s.pool.BlockSize())
	return s.pool.Cached(r.BlockHashes[:limit])
}

// awaitsPrefix reports whether the next block r would compute is one a running
// request is computing now: r then waits a step or a few to find it cached
// rather than compute it a second time (a burst of requests with a new
// system prompt computes it once). Others may be admitted meanwhile.
func (s *Scheduler) awaitsPrefix(st *step, r *Request) bool {
	if !s.cfg.PrefixCaching || len(r.BlockHashes) == 0 {
		return false
	}
	hit := s.cachedPrefix(r)
	if len(hit) >= min(len(r.BlockHashes), (r.NumTokens()-1)/s.pool.BlockSize()) {
		return false
	}
	if st.pending == nil {
		st.pending = map[kvcache.BlockHash]bool{}
		for _, q := range s.running {
			for _, h := range q.BlockHashes[q.registered:] {
				st.pending[h] = true
			}
		}
	}
	return st.pending[r.BlockHashes[len(hit)]]
}

// register indexes the blocks of r's prompt that are now fully computed.
func (s *Scheduler) register(r *Request) {
	if !s.cfg.PrefixCaching {
		return
	}
	bs, blocks := s.pool.BlockSize(), r.table.Blocks()
	for ; r.registered < len(r.BlockHashes) && (r.registered+1)*bs <= r.NumComputed; r.registered++ {
		s.pool.Register(blocks[r.registered], r.BlockHashes[r.registered])
	}
}

// seatsTaken is the running sequences plus the forks running requests will
// make, so that forking never exceeds MaxNumSeqs.
func (s *Scheduler) seatsTaken() int {
	n := 0
	for _, r := range s.running {
		n += r.seats()
	}
	return n
}

func (s *Scheduler) plan(st *step, r *Request, n int, admitted bool) {
	st.take(r, n)
	s.out.Scheduled = append(s.out.Scheduled, Scheduled{
		ID:       r.ID,
		Adapter:  r.Adapter,
		Start:    r.NumComputed,
		NumNew:   n,
		Sample:   r.NumComputed+n == r.NumTokens(),
		Admitted: admitted,
		Blocks:   r.table.Blocks(),
		req:      r,
	})
	s.out.NumBatchedTokens += n
}

// insertByArrival keeps q ordered by arrival; under FCFS it appends (running) or
// prepends (preempted into waiting), a policy that skips requests may need more.
func insertByArrival(q []*Request, r *Request) []*Request {
	i, _ := slices.BinarySearchFunc(q, r, byArrival)
	return slices.Insert(q, i, r)
}
