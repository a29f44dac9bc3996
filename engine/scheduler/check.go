package scheduler

import (
	"cmp"
	"fmt"
	"slices"
)

// Check verifies the scheduler's invariants: the pool's own (kvcache.BlockPool.Check),
// every allocated block held by as many running requests as its reference
// count says (one, or the sequences forked from a prompt; so none leaked),
// waiting requests holding none, queues ordered by arrival, and token counts in
// range. Tests call it after every step; it is O(blocks + requests).
func (s *Scheduler) Check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.pool.Check(); err != nil {
		return err
	}
	if n := s.seatsTaken(); n > s.cfg.MaxNumSeqs {
		return fmt.Errorf("scheduler: %d running sequences (forks included) > MaxNumSeqs %d", n, s.cfg.MaxNumSeqs)
	}
	if n := len(s.running) + len(s.waiting); n != len(s.byID) {
		return fmt.Errorf("scheduler: %d queued requests but %d known ids", n, len(s.byID))
	}
	owned, err := s.checkRunning()
	if err != nil {
		return err
	}
	if owned != s.pool.NumAllocated() {
		return fmt.Errorf("scheduler: %d blocks allocated but %d owned: %d leaked",
			s.pool.NumAllocated(), owned, s.pool.NumAllocated()-owned)
	}
	return s.checkWaiting()
}

func byArrival(a, b *Request) int {
	if c := cmp.Compare(a.Arrival, b.Arrival); c != 0 {
		return c
	}
	return cmp.Compare(a.fork, b.fork)
}

func (s *Scheduler) checkRunning() (owned int, err error) {
	if !slices.IsSortedFunc(s.running, byArrival) {
		return 0, fmt.Errorf("scheduler: running queue out of arrival order")
	}
	holders := make(map[int32]int)
	for _, r := range s.running {
		if r.Status != StatusRunning {
			return 0, fmt.Errorf("scheduler: request %d in the running queue is %v", r.ID, r.Status)
		}
		if r.NumComputed > r.NumTokens() || r.NumComputed > r.table.Capacity() {
			return 0, fmt.Errorf("scheduler: request %d computed %d of %d tokens with %d slots",
				r.ID, r.NumComputed, r.NumTokens(), r.table.Capacity())
		}
		for _, b := range r.table.Blocks() {
			if !s.pool.Allocated(b) {
				return 0, fmt.Errorf("scheduler: request %d holds block %d that the pool thinks free", r.ID, b)
			}
			holders[b]++
		}
	}
	for b, n := range holders {
		if refs := s.pool.Refs(b); refs != n {
			return 0, fmt.Errorf("scheduler: block %d held by %d requests but has %d references", b, n, refs)
		}
	}
	return len(holders), nil
}

func (s *Scheduler) checkWaiting() error {
	if !slices.IsSortedFunc(s.waiting, byArrival) {
		return fmt.Errorf("scheduler: waiting queue out of arrival order")
	}
	for _, r := range s.waiting {
		if r.Status != StatusWaiting && r.Status != StatusPreempted {
			return fmt.Errorf("scheduler: request %d in the waiting queue is %v", r.ID, r.Status)
		}
		if r.table.NumBlocks() != 0 || r.NumComputed != 0 {
			return fmt.Errorf("scheduler: waiting request %d holds %d blocks, %d computed",
				r.ID, r.table.NumBlocks(), r.NumComputed)
		}
	}
	return nil
}
