package scheduler

import "slices"

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
	return &s.out
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
	for i := 0; i < len(s.waiting) && st.budget > 0 && len(s.running) < s.cfg.MaxNumSeqs; {
		r := s.waiting[i]
		if !st.canAdmit(r) {
			i++
			continue
		}
		n := st.chunk(r)
		if !r.table.EnsureCapacity(s.pool, n) {
			return // FCFS: nobody overtakes the oldest waiting request
		}
		s.waiting = slices.Delete(s.waiting, i, i+1)
		s.adapters.join(r.Adapter, st.adapters.now)
		r.Status = StatusRunning
		s.running = insertByArrival(s.running, r)
		s.plan(st, r, n, true)
	}
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
	i, _ := slices.BinarySearchFunc(q, r.Arrival, func(x *Request, a uint64) int {
		switch {
		case x.Arrival < a:
			return -1
		case x.Arrival > a:
			return 1
		}
		return 0
	})
	return slices.Insert(q, i, r)
}
