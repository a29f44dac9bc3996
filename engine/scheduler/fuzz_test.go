package scheduler

import (
	"testing"

	"github.com/graft-ai/graft/engine/kvcache"
)

// fuzzBytes reads a fuzz input a byte at a time, zeros once it runs out.
type fuzzBytes []byte

func (b *fuzzBytes) next() int {
	if len(*b) == 0 {
		return 0
	}
	v := (*b)[0]
	*b = (*b)[1:]
	return int(v)
}

// FuzzSchedule drives random configurations, pool sizes, arrivals, runner stops
// and cancels through the fake runner, which checks the budget, sequence limit,
// block ownership and cache contents every step; Check proves no block leaked.
// Each step while requests remain must compute a token, and the whole run must end
// within the sum of the requests' lengths in steps, because the oldest request is
// never preempted and advances every step.
func FuzzSchedule(f *testing.F) {
	f.Add([]byte{4, 16, 0, 64, 8, 4, 0, 20, 10, 0, 0, 30, 5, 3, 3, 0, 9, 9, 0, 3, 2, 1, 3})
	f.Add([]byte{1, 1, 0, 16, 2, 8, 0, 15, 2, 0, 0, 15, 2, 0, 3, 2, 0})
	f.Add([]byte{16, 64, 7, 127, 32, 2, 0, 100, 31, 5, 0, 60, 20, 0, 1, 1, 20, 0, 3, 3, 2, 1, 0, 40, 8, 0})
	// Prefix caching on (third byte 17..33), prompts of shared classes.
	f.Add([]byte{8, 40, 20, 64, 12, 4, 0, 30, 10, 0, 0, 30, 10, 3, 3, 0, 33, 9, 3, 1, 35, 2, 6, 3, 3, 0, 20, 5, 9, 3, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzBytes(data)
		seqs, budget, lpt := in.next(), in.next(), in.next()
		cfg := Config{
			MaxNumSeqs:           1 + seqs%16,
			MaxNumBatchedTokens:  1 + budget%64,
			LongPrefillThreshold: lpt % 17,
			MaxModelLen:          1 + in.next()%128,
			PrefixCaching:        lpt/17%2 == 1,
		}
		pool := kvcache.NewBlockPool(in.next()%33, 1+in.next()%8)
		s, err := New(cfg, pool)
		if err != nil {
			t.Fatal(err)
		}
		fz := &fuzzRun{t: t, cfg: cfg, pool: pool, s: s, runner: newFakeRunner(cfg, pool)}
		for ops := 0; len(in) > 0 && ops < 200; ops++ {
			switch op := in.next(); op % 4 {
			case 0, 1:
				fz.add(1+in.next(), in.next()%33, in.next())
			case 2:
				if fz.nextID > 0 {
					s.Cancel(uint64(in.next()) % fz.nextID)
				}
			case 3:
				fz.step()
			}
		}
		steps, err := fz.runner.drain(s, fz.stepBound+1)
		if err != nil {
			t.Fatalf("after %d drain steps: %v", steps, err)
		}
		fz.checkEnd()
	})
}

type fuzzRun struct {
	t         *testing.T
	cfg       Config
	pool      *kvcache.BlockPool
	s         *Scheduler
	runner    *fakeRunner
	nextID    uint64
	stepBound int
	reqs      []*Request
}

// seqsFor derives a request's sequence count from its stop byte, so the
// corpus keeps its meaning: most requests sample one sequence, some fork.
func seqsFor(eos int) int {
	if eos%2 == 0 {
		return 1
	}
	return 1 + (eos/2)%4
}

// add adds a request and checks that Add accepts exactly those that fit.
func (fz *fuzzRun) add(prompt, maxTokens, eos int) {
	n := seqsFor(eos)
	r := &Request{ID: fz.nextID, NumPromptTokens: prompt, MaxTokens: maxTokens, N: n}
	if fz.cfg.PrefixCaching {
		// Three prompt classes, so that prompts often share prefixes.
		class := uint64(eos % 3)
		r.BlockHashes = kvcache.HashBlocks([32]byte{}, classTokens(class, max(prompt, 0)), fz.pool.BlockSize())
		fz.runner.prompts[r.ID] = promptClass{class: class, length: prompt}
	}
	fz.nextID++
	gen := min(maxTokens, max(1, fz.cfg.MaxModelLen-prompt))
	fits := prompt <= fz.cfg.MaxModelLen && maxTokens > 0 && n <= fz.cfg.MaxNumSeqs &&
		fz.pool.BlocksFor(prompt+gen-1) <= fz.pool.NumTotal()
	err := fz.s.Add(r)
	if (err == nil) != fits {
		fz.t.Fatalf("Add(prompt %d, max %d) = %v; fits: %v", prompt, maxTokens, err, fits)
	}
	if err != nil {
		return
	}
	if eos%3 == 0 {
		fz.runner.eosAfter[r.ID] = 1 + eos%7
	}
	fz.runner.n[r.ID] = n
	fz.stepBound += n * (prompt + gen)
	fz.reqs = append(fz.reqs, r)
}

func (fz *fuzzRun) step() {
	st := fz.s.Stats()
	out, _, err := fz.runner.step(fz.s)
	if err != nil {
		fz.t.Fatal(err)
	}
	if st.Running+st.Waiting > 0 && out.NumBatchedTokens == 0 {
		fz.t.Fatalf("step computed nothing with %+v", st)
	}
}

// checkEnd checks that every request not cancelled got exactly its tokens, as
// did every fork (the runner counted theirs), and that no block leaked.
func (fz *fuzzRun) checkEnd() {
	want := func(r *Request) int {
		w := min(r.MaxTokens, max(1, fz.cfg.MaxModelLen-r.NumPromptTokens))
		if stop, ok := fz.runner.eosAfter[r.ID]; ok {
			w = min(w, stop)
		}
		return w
	}
	for _, r := range fz.reqs {
		if r.Status != StatusFinished {
			fz.t.Fatalf("request %d ended %v", r.ID, r.Status)
		}
		if r.Reason == FinishCancelled {
			continue
		}
		if r.NumOutputTokens != want(r) {
			fz.t.Fatalf("request %d (prompt %d, max %d): %d outputs, want %d",
				r.ID, r.NumPromptTokens, r.MaxTokens, r.NumOutputTokens, want(r))
		}
	}
	byID := map[uint64]*Request{}
	for _, r := range fz.reqs {
		byID[r.ID] = r
	}
	for id, fs := range fz.runner.forks {
		if got, w := fz.runner.outputs[id], want(byID[fs.root]); got != w {
			fz.t.Fatalf("fork %d of request %d: %d outputs, want %d", id, fs.root, got, w)
		}
	}
	if err := fz.s.Check(); err != nil {
		fz.t.Fatal(err)
	}
	if fz.pool.NumFree() != fz.pool.NumTotal() {
		fz.t.Fatalf("%d of %d blocks leaked", fz.pool.NumTotal()-fz.pool.NumFree(), fz.pool.NumTotal())
	}
}
