package kernel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// spinRounds is how many times an idle worker polls for new work before it
// parks. Decode issues hundreds of small parallel calls per token, so a parked
// worker's wake-up latency (several µs) would dominate; a short spin keeps
// back-to-back calls cheap while an idle engine still parks.
const spinRounds = 20000

// Pool is a persistent set of workers that run data-parallel loops. The
// calling goroutine takes part in every Run, so a pool of n has n-1
// goroutines. Run calls are serialized; fn must not call Run on the same pool.
type Pool struct {
	mu      sync.Mutex
	workers []*worker
	// run is the current Run's generation (bits 16 and up), whether it is
	// sealed (bit 15) and how many workers joined it (bits 0-14). A worker
	// touches a job only after joining it, and the caller seals the Run once
	// every chunk is claimed, then waits only for the workers that joined: a
	// worker the OS has not scheduled (another process on its core) no
	// longer holds up a Run it took no part in.
	run    atomic.Uint64
	done   atomic.Int64 // workers of the current Run that have finished
	closed atomic.Bool

	// The current job, written under mu before run's generation is
	// bumped: fn, or fnID for jobs that use per-participant scratch (id 0
	// is the caller).
	fn    func(lo, hi int)
	fnID  func(id, lo, hi int)
	n     int
	chunk int  // the smallest chunk (the last ones may be shorter)
	even  bool // split n evenly, one chunk a participant (runProduct)
	next  atomic.Int64

	mm      matMulJob            // reused by MatMul so that it allocates nothing
	mmPanel func(id, lo, hi int) // mm.runPanels, bound once
	panels  [][]float32          // MatMulQ's dequantized panel per participant
	mmQuant func(lo, hi int)     // mm.quantRows, bound once
	acts    []byte               // MatMulQ8's quantized activations
	// MatMulQ8's batched path: the activations' forms, the participants'
	// scratch, and mm.runBatched bound once.
	batchActs batchActs
	intScr    []intScratch
	mmInt     func(id, lo, hi int)
	many      manyJob // MatMulQ8Many's projections
}

type worker struct {
	sleeping atomic.Bool
	wake     chan struct{}
}

// NewPool starts a pool of n participants (n ≤ 0 means GOMAXPROCS).
func NewPool(n int) *Pool {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	p := &Pool{}
	p.mm.fn = p.mm.run
	p.mmPanel = p.mm.runPanels
	p.mmQuant = p.mm.quantRows
	p.mmInt = p.mm.runBatched
	p.intScr = make([]intScratch, n)
	p.panels = make([][]float32, n)
	for i := 1; i < n; i++ {
		w := &worker{wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, w)
		go p.loop(w, i, p.run.Load()>>genShift)
	}
	return p
}

// Size is the number of participants, the caller included.
func (p *Pool) Size() int {
	if p == nil {
		return 1
	}
	return len(p.workers) + 1
}

// Close stops the workers. The pool must not be used afterwards.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Swap(true) {
		return
	}
	p.run.Store((p.run.Load()>>genShift + 1) << genShift)
	p.wakeAll()
}

const (
	genShift = 16
	sealed   = 1 << 15
	joinMask = sealed - 1
)

// Run splits [0,n) into chunks and calls fn(lo, hi) on them from all
// participants until every index is covered. It returns when all are done.
// A nil pool runs fn(0, n) on the caller.
func (p *Pool) Run(n int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if p == nil || len(p.workers) == 0 || n == 1 {
		fn(0, n)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.runLocked(n, fn, nil)
}

// evenLoneRow is whether runProduct splits a lone row's columns evenly (a
// variable for the A/B benchmark).
var evenLoneRow = true

// runProduct is runLocked for the n column units of a matrix product of
// rows rows. For one row each participant's first chunk is an even share,
// not the guided quarter: a lone row is read as a few long streams per
// chunk (streamRow, packedRow, halfStreams), and guided chunks left much
// of a small matrix to short chunks read as one group after another. The
// packed Q4_K_M decode step's matmuls ran 7-10% faster with even chunks,
// the O and down projections 11-16% (stored Q8_0 and Q4_1 0-5%, F32
// alike; BenchmarkDecodeStepEven, step by step in one process). Chunks are
// still claimed, not assigned: a participant that has not joined leaves
// its share to the others. Batches keep guided chunks, which balance their
// compute: even ones were 5-10% slower at 8 and 32 rows.
func (p *Pool) runProduct(rows, n int, fn func(lo, hi int)) {
	p.even = rows == 1 && evenLoneRow
	defer func() { p.even = false }()
	p.runLocked(n, fn, nil)
}

// runLocked is Run with p.mu held; fnID, when set, replaces fn.
func (p *Pool) runLocked(n int, fn func(lo, hi int), fnID func(id, lo, hi int)) {
	if p.closed.Load() {
		panic("kernel: Run on a closed Pool")
	}
	parts := len(p.workers) + 1
	// The smallest chunk (see grab).
	chunk := (n + 16*parts - 1) / (16 * parts)
	p.fn, p.fnID, p.n, p.chunk = fn, fnID, n, chunk
	p.next.Store(0)
	p.done.Store(0)
	p.run.Store((p.run.Load()>>genShift + 1) << genShift)
	p.wakeAll()
	p.work(0)
	joined := int64(p.run.Or(sealed) & joinMask)
	for i := 0; p.done.Load() != joined; i++ {
		if i > 64 {
			runtime.Gosched()
		}
	}
	p.fn, p.fnID = nil, nil
}

func (p *Pool) wakeAll() {
	for _, w := range p.workers {
		if w.sleeping.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
}

// work takes chunks of the current job until none is left; id is the
// participant's index.
func (p *Pool) work(id int) {
	for {
		lo, hi := p.grab()
		if lo >= hi {
			return
		}
		if p.fnID != nil {
			p.fnID(id, lo, hi)
		} else {
			p.fn(lo, hi)
		}
	}
}

// grab claims the next chunk: guided self-scheduling, half of what is left
// over the participants but at least p.chunk. Large early chunks keep the
// claims few; small late ones shorten the wait at the end of a Run for the
// participant with the last chunk, which decode (a Run per matmul, ~85 a
// token) paid with fixed chunks of an eighth of the work on 2 threads:
// about 2.5% of matmul time in a same-process A/B on the 110M shapes. A
// core slowed by other processes still hands work to the others.
func (p *Pool) grab() (lo, hi int) {
	for {
		l := int(p.next.Load())
		if l >= p.n {
			return 0, 0
		}
		d := 2*len(p.workers) + 2
		if p.even {
			d = len(p.workers) + 1
		}
		h := min(l+max((p.n-l)/d, p.chunk), p.n)
		if p.next.CompareAndSwap(int64(l), int64(h)) {
			return l, h
		}
	}
}

// loop serves Runs after generation seen, which is read before the goroutine
// starts, so a Run issued before it is scheduled still wakes it (it joins
// only if that Run is not sealed yet).
func (p *Pool) loop(w *worker, id int, seen uint64) {
	for {
		seen = p.await(w, seen)
		if p.closed.Load() {
			return
		}
		if p.join(seen) {
			p.work(id)
			p.done.Add(1)
		}
	}
}

// join enters Run gen unless it is sealed or over.
func (p *Pool) join(gen uint64) bool {
	for {
		s := p.run.Load()
		if s>>genShift != gen || s&sealed != 0 {
			return false
		}
		if p.run.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

// await returns the new generation once it differs from seen, spinning first
// and then parking on w.wake.
func (p *Pool) await(w *worker, seen uint64) uint64 {
	for {
		for i := 0; i < spinRounds; i++ {
			if g := p.run.Load() >> genShift; g != seen {
				return g
			}
			if i%128 == 127 {
				runtime.Gosched()
			}
		}
		w.sleeping.Store(true)
		if g := p.run.Load() >> genShift; g != seen {
			if w.sleeping.CompareAndSwap(true, false) {
				return g
			}
			// wakeAll claimed us and will send: drain its token.
			<-w.wake
			return g
		}
		<-w.wake
	}
}
