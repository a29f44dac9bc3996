package scheduler

import "slices"

// Update applies a step the runner has executed: every sequence in out computed
// its NumNew tokens, and results carry the tokens appended and the stops the
// runner detected. Requests cancelled meanwhile are skipped, and the forks they
// split off in this step are returned as cancelled. It finishes requests
// that stopped, generated MaxTokens or reached MaxModelLen, frees their blocks and
// returns them (the slice is reused by the next Update).
func (s *Scheduler) Update(out *Output, results []Result) []Finished {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range out.Scheduled {
		if r := sc.req; r.Status == StatusRunning && r.NumComputed == sc.Start {
			r.NumComputed += sc.NumNew
			s.register(r)
		}
	}
	s.finishedNow = s.finishedNow[:0]
	for _, res := range results {
		r, ok := s.byID[res.ID]
		if !ok {
			// Cancelled while the runner sampled its forks' first tokens:
			// the forks, never known here, end with it.
			for _, f := range res.Forks {
				s.finishedNow = append(s.finishedNow, Finished{ID: f.ID, Reason: FinishCancelled})
			}
			continue
		}
		if r.Status != StatusRunning {
			continue
		}
		r.NumOutputTokens += max(res.Appended, 0)
		if len(res.Forks) > 0 {
			s.fork(r, res.Forks)
		}
		if s.cfg.PrefixCaching && len(r.BlockHashes) == r.NumTokens()/s.pool.BlockSize()-len(res.Hashes) {
			r.BlockHashes = append(r.BlockHashes, res.Hashes...)
		}
		if why := s.stop(r, res); why != "" {
			s.finish(r, why)
			s.finishedNow = append(s.finishedNow, Finished{ID: r.ID, Reason: why})
		}
	}
	if len(s.finishedNow) > 0 {
		s.running = dropFinished(s.running)
	}
	return s.finishedNow
}

// fork splits the sequences in forks off r, which just computed its prompt and
// sampled its first token, as did each fork. A fork shares r's full prompt
// blocks and copies the partly filled one; when no block is free for the copy
// it waits to recompute instead, as a preempted request does.
func (s *Scheduler) fork(r *Request, forks []Fork) {
	r.N = 1
	now := s.cfg.Now()
	// The forks share the prompt's hashes; clipped, an append by one copies.
	r.BlockHashes = slices.Clip(r.BlockHashes)
	for i, f := range forks {
		if _, dup := s.byID[f.ID]; dup {
			continue // the runner reused a live id: a runner bug, not this fork's
		}
		c := &Request{ID: f.ID, NumPromptTokens: r.NumPromptTokens, MaxTokens: r.MaxTokens, Adapter: r.Adapter,
			NumOutputTokens: r.NumOutputTokens, Arrival: r.Arrival, fork: i + 1, Status: StatusRunning,
			BlockHashes: r.BlockHashes}
		if s.cfg.PrefixCaching && len(c.BlockHashes) == c.NumTokens()/s.pool.BlockSize()-len(f.Hashes) {
			c.BlockHashes = append(c.BlockHashes, f.Hashes...)
		}
		s.byID[c.ID] = c
		copies, ok := r.table.Fork(s.pool, r.NumComputed, &c.table, nil)
		if ok {
			c.NumComputed, c.registered = r.NumComputed, r.registered
			s.running = insertByArrival(s.running, c)
			s.adapters.join(c.Adapter, now)
			for _, bc := range copies {
				s.copies = append(s.copies, pendingCopy{r: c, c: bc})
			}
		} else {
			c.Status = StatusPreempted
			s.waiting = insertByArrival(s.waiting, c)
			s.forkWaiting = append(s.forkWaiting, c.ID)
		}
		if why := s.stop(c, Result{Appended: 1, Finished: f.Finished}); why != "" {
			if c.Status == StatusRunning {
				s.running = remove(s.running, c)
			} else {
				s.waiting = remove(s.waiting, c)
			}
			s.finish(c, why)
			s.finishedNow = append(s.finishedNow, Finished{ID: c.ID, Reason: why})
		}
	}
}

// stop decides whether r ends after a step. Length limits apply only once a token
// was appended: a prompt of exactly MaxModelLen tokens still yields one token.
func (s *Scheduler) stop(r *Request, res Result) FinishReason {
	switch {
	case res.Finished:
		return FinishStop
	case res.Appended <= 0:
		return ""
	case r.NumOutputTokens >= r.MaxTokens, r.NumTokens() >= s.cfg.MaxModelLen:
		return FinishLength
	}
	return ""
}

// dropFinished removes finished requests in one pass, keeping the order.
func dropFinished(q []*Request) []*Request {
	kept := q[:0]
	for _, r := range q {
		if r.Status != StatusFinished {
			kept = append(kept, r)
		}
	}
	clear(q[len(kept):])
	return kept
}
