package scheduler

import (
	"fmt"

	"github.com/graft-ai/graft/engine/kvcache"
)

// fakeRunner executes Outputs the way the model runner will, minus the model: it
// writes (sequence, position) into the KV slots named by the block table and, to
// "attend", reads back every earlier position of the sequence. A block handed to
// two live sequences, a table that moved, or a skipped position shows up as a
// wrong slot. It also checks each Output against the scheduler's contract.
//
// A request with N > 1 forks in the step that samples its prompt: the prompt
// positions of every fork hold the parent's entries (the same K/V), the rest
// their own, so a fork reading a block its sibling overwrote, or a copy not
// made, shows up too.
type fakeRunner struct {
	cfg      Config
	bs       int
	pool     *kvcache.BlockPool
	kv       []kvSlot
	computed map[uint64]int // the runner's state per sequence
	eosAfter map[uint64]int // report a stop after this many outputs, if set
	outputs  map[uint64]int
	results  []Result
	owner    map[int32]uint64
	n        map[uint64]int       // sequences per request, for those that fork
	forks    map[uint64]forkState // per fork: where its entries come from
	nextFork uint64
	// prompts maps a request to the content class of its prompt: requests of
	// one class have equal tokens at equal positions, so their prompt entries
	// are the class's, whoever computed them (a shared cached prefix).
	prompts map[uint64]promptClass
}

type promptClass struct {
	class  uint64
	length int
}

// classEntry is the entry of a prompt position of class c.
func classEntry(c uint64, pos int) kvSlot { return kvSlot{1<<50 + c, pos, true} }

type forkState struct {
	root   uint64
	prompt int
}

// entry is what sequence id holds at position pos.
func (f *fakeRunner) entry(id uint64, pos int) kvSlot {
	if fs, ok := f.forks[id]; ok && pos < fs.prompt {
		id = fs.root
	}
	if pc, ok := f.prompts[id]; ok && pos < pc.length {
		return classEntry(pc.class, pos)
	}
	return kvSlot{id, pos, true}
}

type kvSlot struct {
	id  uint64
	pos int
	set bool
}

func newFakeRunner(cfg Config, pool *kvcache.BlockPool) *fakeRunner {
	return &fakeRunner{
		cfg:      cfg,
		bs:       pool.BlockSize(),
		pool:     pool,
		kv:       make([]kvSlot, pool.NumTotal()*pool.BlockSize()),
		computed: make(map[uint64]int),
		eosAfter: make(map[uint64]int),
		outputs:  make(map[uint64]int),
		owner:    make(map[int32]uint64),
		n:        make(map[uint64]int),
		forks:    make(map[uint64]forkState),
		nextFork: 1 << 40,
		prompts:  make(map[uint64]promptClass),
	}
}

func (f *fakeRunner) slot(blocks []int32, pos int) *kvSlot {
	return &f.kv[int(blocks[pos/f.bs])*f.bs+pos%f.bs]
}

// execute runs one step and returns the results for Update.
func (f *fakeRunner) execute(out *Output) ([]Result, error) {
	for _, id := range out.Preempted {
		delete(f.computed, id)
	}
	for _, id := range out.Finished {
		delete(f.computed, id)
	}
	if err := f.checkBatch(out); err != nil {
		return nil, err
	}
	for _, c := range out.Copies {
		copy(f.kv[int(c.Dst)*f.bs:int(c.Dst+1)*f.bs], f.kv[int(c.Src)*f.bs:int(c.Src+1)*f.bs])
	}
	f.results = f.results[:0]
	for _, sc := range out.Scheduled {
		if err := f.run(sc); err != nil {
			return nil, err
		}
		res := Result{ID: sc.ID}
		if sc.Sample {
			f.outputs[sc.ID]++
			res.Appended = 1
			stop, ok := f.eosAfter[sc.ID]
			res.Finished = ok && f.outputs[sc.ID] >= stop
			res.Forks = f.fork(sc)
		}
		f.results = append(f.results, res)
	}
	return f.results, nil
}

// fork makes the other sequences of a request with N > 1 when its prompt is
// sampled; they inherit its stop rule.
func (f *fakeRunner) fork(sc Scheduled) []Fork {
	n := f.n[sc.ID]
	if n <= 1 {
		return nil
	}
	delete(f.n, sc.ID)
	var forks []Fork
	for range n - 1 {
		id := f.nextFork
		f.nextFork++
		f.forks[id] = forkState{root: sc.ID, prompt: sc.Start + sc.NumNew}
		f.computed[id], f.outputs[id] = sc.Start+sc.NumNew, 1
		stop, ok := f.eosAfter[sc.ID]
		if ok {
			f.eosAfter[id] = stop
		}
		forks = append(forks, Fork{ID: id, Finished: ok && stop <= 1})
	}
	return forks
}

// checkBatch checks the step-wide limits: budget, sequences, disjoint tables.
func (f *fakeRunner) checkBatch(out *Output) error {
	total := 0
	clear(f.owner)
	for _, sc := range out.Scheduled {
		total += sc.NumNew
		if sc.NumNew <= 0 || sc.NumNew > f.cfg.chunkCap() {
			return fmt.Errorf("request %d: %d new tokens, cap %d", sc.ID, sc.NumNew, f.cfg.chunkCap())
		}
		for _, b := range f.written(sc) {
			if prev, dup := f.owner[b]; dup {
				return fmt.Errorf("block %d written by requests %d and %d in one step", b, prev, sc.ID)
			}
			// 0 is a request cancelled since Schedule (Cancel frees at once;
			// the block is not handed out before the next Schedule).
			if refs := f.pool.Refs(b); refs > 1 {
				return fmt.Errorf("request %d writes block %d, which %d tables hold", sc.ID, b, refs)
			}
			f.owner[b] = sc.ID
		}
	}
	switch {
	case total != out.NumBatchedTokens:
		return fmt.Errorf("NumBatchedTokens %d, scheduled %d", out.NumBatchedTokens, total)
	case total > f.cfg.MaxNumBatchedTokens:
		return fmt.Errorf("step of %d tokens exceeds the budget %d", total, f.cfg.MaxNumBatchedTokens)
	case len(out.Scheduled) > f.cfg.MaxNumSeqs:
		return fmt.Errorf("step of %d sequences exceeds MaxNumSeqs %d", len(out.Scheduled), f.cfg.MaxNumSeqs)
	}
	return nil
}

// written is the blocks sc writes to; shared prompt blocks must not be among them.
func (f *fakeRunner) written(sc Scheduled) []int32 {
	if len(sc.Blocks)*f.bs < sc.Start+sc.NumNew {
		return nil // run reports it
	}
	return sc.Blocks[sc.Start/f.bs : (sc.Start+sc.NumNew+f.bs-1)/f.bs]
}

// run computes one sequence's chunk: attend to its cached positions, then write.
func (f *fakeRunner) run(sc Scheduled) error {
	prev, known := f.computed[sc.ID]
	switch {
	case sc.Admitted && (known || sc.Start%f.bs != 0 || (sc.Start != 0 && !f.cfg.PrefixCaching)):
		return fmt.Errorf("request %d admitted at %d with runner state %v", sc.ID, sc.Start, known)
	case !sc.Admitted && (!known || prev != sc.Start):
		return fmt.Errorf("request %d starts at %d, runner computed %d (state %v)", sc.ID, sc.Start, prev, known)
	case len(sc.Blocks)*f.bs < sc.Start+sc.NumNew:
		return fmt.Errorf("request %d: %d blocks for %d positions", sc.ID, len(sc.Blocks), sc.Start+sc.NumNew)
	}
	for p := range sc.Start {
		if got := *f.slot(sc.Blocks, p); got != f.entry(sc.ID, p) {
			return fmt.Errorf("request %d position %d: cache holds %+v", sc.ID, p, got)
		}
	}
	for p := sc.Start; p < sc.Start+sc.NumNew; p++ {
		*f.slot(sc.Blocks, p) = f.entry(sc.ID, p)
	}
	f.computed[sc.ID] = sc.Start + sc.NumNew
	return nil
}

// step runs Schedule, the fake runner, Update and Check once.
func (f *fakeRunner) step(s *Scheduler) (*Output, []Finished, error) {
	out := s.Schedule()
	res, err := f.execute(out)
	if err != nil {
		return out, nil, err
	}
	fin := s.Update(out, res)
	return out, fin, s.Check()
}

// drain steps until no request is left, failing if a step computes nothing or
// the steps exceed limit.
func (f *fakeRunner) drain(s *Scheduler, limit int) (steps int, err error) {
	for ; ; steps++ {
		st := s.Stats()
		if st.Running+st.Waiting == 0 {
			return steps, nil
		}
		if steps >= limit {
			return steps, fmt.Errorf("%d requests left after %d steps", st.Running+st.Waiting, steps)
		}
		out, _, err := f.step(s)
		if err != nil {
			return steps, err
		}
		if out.NumBatchedTokens == 0 {
			return steps, fmt.Errorf("step %d computed nothing with %+v", steps, st)
		}
	}
}
