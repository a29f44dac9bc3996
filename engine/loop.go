package engine

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/graft-ai/graft/engine/scheduler"
)

func (e *Engine) loop() {
	defer close(e.done)
	for {
		out := e.sched.Schedule()
		e.dropFinished(out.Finished)
		for _, c := range out.Copies {
			e.m.CopyKVBlock(e.cache, c.Src, c.Dst)
		}
		if len(out.Scheduled) == 0 {
			select {
			case <-e.wake:
				continue
			case <-e.quit:
				e.shutdown()
				return
			}
		}
		e.step(out)
		select {
		case <-e.quit:
			e.shutdown()
			return
		default:
		}
	}
}

// dropFinished ends sequences the scheduler finished outside a step: cancelled.
func (e *Engine) dropFinished(ids []uint64) {
	for _, id := range ids {
		if s := e.lookup(id); s != nil {
			e.end(s, FinishCancelled, nil)
		}
	}
}

func (e *Engine) lookup(id uint64) *sequence {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.seqs[id]
}

func (e *Engine) shutdown() {
	e.mu.Lock()
	all := make([]*sequence, 0, len(e.seqs))
	for _, s := range e.seqs {
		all = append(all, s)
	}
	e.mu.Unlock()
	for _, s := range all {
		e.sched.Cancel(s.id)
		e.end(s, FinishError, errClosed)
	}
}

// step runs one forward pass over everything the scheduler planned, samples the
// sequences that reached the end of their known tokens and reports back.
func (e *Engine) step(out *scheduler.Output) {
	seqs := e.buildBatch(out)
	masks := e.startMasks(seqs)
	logits, err := e.m.Forward(e.ws, e.cache, &e.batch)
	masks.Wait()
	e.results = e.results[:0]
	if err != nil {
		slog.Error("forward pass failed", "err", err, "tokens", len(e.batch.Tokens))
		for i, sc := range out.Scheduled {
			if seqs[i] != nil {
				seqs[i].finish, seqs[i].err = FinishError, fmt.Errorf("engine: %w", err)
				e.results = append(e.results, scheduler.Result{ID: sc.ID, Finished: true})
			}
		}
	} else {
		vocab := e.m.Config.Vocab
		for k, i := range e.sampled {
			s := seqs[i]
			if s.finish == FinishError {
				continue
			}
			row := logits[k*vocab : (k+1)*vocab]
			forks := e.sampleForks(s, row)
			if s.matcher != nil {
				s.matcher.Mask().Apply(row)
			}
			r := s.sampler.Sample(row, s.tokens[:s.promptLen], s.generated())
			stop := e.accept(s, r)
			e.results = append(e.results, scheduler.Result{ID: s.id, Appended: 1, Finished: stop, Forks: forks, Hashes: s.takeFresh()})
		}
		for i, s := range seqs { // adapters that could not be placed
			if s != nil && s.finish == FinishError {
				e.results = append(e.results, scheduler.Result{ID: out.Scheduled[i].ID, Finished: true})
			}
		}
	}
	for _, f := range e.sched.Update(out, e.results) {
		s := e.lookup(f.ID)
		if s == nil {
			continue
		}
		why := s.finish
		if why == "" {
			why = f.Reason
		}
		e.end(s, why, s.err)
	}
}

// sampleForks samples the first token of each fork s still carries from the
// logits of the prompt's last position, each from the row as the model gave
// it (a sampler's penalties rewrite the row), and hands the forks over to the
// scheduler, which from now on runs them as sequences of their own.
func (e *Engine) sampleForks(s *sequence, row []float32) []scheduler.Fork {
	if len(s.forks) == 0 {
		return nil
	}
	forks := make([]scheduler.Fork, 0, len(s.forks))
	for _, f := range s.forks {
		f.cached, f.started = s.cached, true
		e.rowBuf = append(e.rowBuf[:0], row...)
		if f.matcher != nil {
			f.matcher.Mask().Apply(e.rowBuf)
		}
		r := f.sampler.Sample(e.rowBuf, f.tokens[:f.promptLen], f.generated())
		stop := e.accept(f, r)
		forks = append(forks, scheduler.Fork{ID: f.id, Finished: stop, Hashes: f.takeFresh()})
	}
	s.forks = nil
	return forks
}

// buildBatch flattens the planned sequences into one batch and returns the
// sequence of each scheduled entry (nil if it vanished meanwhile).
func (e *Engine) buildBatch(out *scheduler.Output) []*sequence {
	b := &e.batch
	b.Tokens, b.Outputs = b.Tokens[:0], b.Outputs[:0]
	a := &b.Attn
	a.Positions, a.Seq, a.Slots, a.Tables = a.Positions[:0], a.Seq[:0], a.Slots[:0], a.Tables[:0]
	e.sampled = e.sampled[:0]
	bs := int32(e.cfg.BlockSize)
	seqs := e.batchSeqs[:0]
	for _, sc := range out.Scheduled {
		seqs = append(seqs, e.lookup(sc.ID))
	}
	e.batchSeqs = seqs
	if e.slots != nil {
		e.adapterSlots(out, seqs)
	}
	prefill := 0
	for i, sc := range out.Scheduled {
		s := seqs[i]
		if s == nil {
			continue
		}
		if sc.Admitted && !s.started {
			s.cached, s.started, s.admitted = sc.Start, true, time.Now()
		}
		prefill += max(0, min(sc.Start+sc.NumNew, s.promptLen)-sc.Start)
		for p := sc.Start; p < sc.Start+sc.NumNew; p++ {
			b.Tokens = append(b.Tokens, s.tokens[p])
			a.Positions = append(a.Positions, int32(p))
			a.Seq = append(a.Seq, int32(len(a.Tables)))
			a.Slots = append(a.Slots, sc.Blocks[int32(p)/bs]*bs+int32(p)%bs)
		}
		a.Tables = append(a.Tables, sc.Blocks)
		if sc.Sample {
			b.Outputs = append(b.Outputs, int32(len(b.Tokens)-1))
			e.sampled = append(e.sampled, i)
		}
	}
	e.prefillTokens.Add(uint64(prefill))
	return seqs
}
