package scheduler

// Update applies a step the runner has executed: every sequence in out computed
// its NumNew tokens, and results carry the tokens appended and the stops the
// runner detected. Requests cancelled meanwhile are skipped. It finishes requests
// that stopped, generated MaxTokens or reached MaxModelLen, frees their blocks and
// returns them (the slice is reused by the next Update).
func (s *Scheduler) Update(out *Output, results []Result) []Finished {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range out.Scheduled {
		if r := sc.req; r.Status == StatusRunning && r.NumComputed == sc.Start {
			r.NumComputed += sc.NumNew
		}
	}
	s.finishedNow = s.finishedNow[:0]
	for _, res := range results {
		r, ok := s.byID[res.ID]
		if !ok || r.Status != StatusRunning {
			continue
		}
		r.NumOutputTokens += max(res.Appended, 0)
		if why := s.stop(r, res); why != 0 {
			s.finish(r, why)
			s.finishedNow = append(s.finishedNow, Finished{ID: r.ID, Reason: why})
		}
	}
	if len(s.finishedNow) > 0 {
		s.running = dropFinished(s.running)
	}
	return s.finishedNow
}

// stop decides whether r ends after a step. Length limits apply only once a token
// was appended: a prompt of exactly MaxModelLen tokens still yields one token.
func (s *Scheduler) stop(r *Request, res Result) FinishReason {
	switch {
	case res.Finished:
		return FinishStop
	case res.Appended <= 0:
		return 0
	case r.NumOutputTokens >= r.MaxTokens, r.NumTokens() >= s.cfg.MaxModelLen:
		return FinishLength
	}
	return 0
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
