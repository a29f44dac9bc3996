package scheduler

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/graft-ai/graft/engine/kvcache"
)

type harness struct {
	t      *testing.T
	s      *Scheduler
	pool   *kvcache.BlockPool
	runner *fakeRunner
	reqs   []*Request
}

func newHarness(t *testing.T, cfg Config, numBlocks, blockSize int) *harness {
	t.Helper()
	pool := kvcache.NewBlockPool(numBlocks, blockSize)
	s, err := New(cfg, pool)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, s: s, pool: pool, runner: newFakeRunner(cfg, pool)}
}

func (h *harness) add(id uint64, prompt, maxTokens int) *Request {
	h.t.Helper()
	r := &Request{ID: id, NumPromptTokens: prompt, MaxTokens: maxTokens}
	if err := h.s.Add(r); err != nil {
		h.t.Fatal(err)
	}
	h.reqs = append(h.reqs, r)
	return r
}

func (h *harness) step() *Output {
	h.t.Helper()
	out, _, err := h.runner.step(h.s)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *harness) drain(limit int) {
	h.t.Helper()
	if _, err := h.runner.drain(h.s, limit); err != nil {
		h.t.Fatal(err)
	}
	h.assertNoLeak()
}

func (h *harness) assertNoLeak() {
	h.t.Helper()
	if err := h.s.Check(); err != nil {
		h.t.Fatal(err)
	}
	if h.pool.NumFree() != h.pool.NumTotal() {
		h.t.Fatalf("%d of %d blocks leaked", h.pool.NumTotal()-h.pool.NumFree(), h.pool.NumTotal())
	}
}

// plan is a compact view of a step: id:NumNew per scheduled sequence.
type planned struct {
	id     uint64
	numNew int
}

func plan(out *Output) []planned {
	var p []planned
	for _, sc := range out.Scheduled {
		p = append(p, planned{sc.ID, sc.NumNew})
	}
	return p
}

func TestDecodesComeBeforeAdmission(t *testing.T) {
	h := newHarness(t, Config{MaxNumSeqs: 8, MaxNumBatchedTokens: 8, MaxModelLen: 256}, 64, 4)
	h.add(1, 2, 10)
	h.add(2, 3, 10)
	if got, want := plan(h.step()), []planned{{1, 2}, {2, 3}}; !slices.Equal(got, want) {
		t.Fatalf("step 1 = %v, want %v", got, want)
	}
	h.add(3, 100, 10)
	out := h.step()
	if got, want := plan(out), []planned{{1, 1}, {2, 1}, {3, 6}}; !slices.Equal(got, want) {
		t.Fatalf("step 2 = %v, want %v: decodes first, the new prompt gets the rest", got, want)
	}
	if !out.Scheduled[0].Sample || out.Scheduled[2].Sample || !out.Scheduled[2].Admitted {
		t.Fatalf("step 2 flags = %+v", out.Scheduled)
	}
}

func TestChunkedPrefillInterleavesDecodes(t *testing.T) {
	h := newHarness(t, Config{MaxNumSeqs: 8, MaxNumBatchedTokens: 10, LongPrefillThreshold: 6, MaxModelLen: 256}, 64, 4)
	h.add(1, 1, 100)
	h.add(2, 1, 100)
	h.step()
	long := h.add(3, 40, 5)
	for computed := 0; computed < 40; {
		out := h.step()
		want := []planned{{1, 1}, {2, 1}, {3, min(6, 40-computed)}}
		if got := plan(out); !slices.Equal(got, want) {
			t.Fatalf("with %d of the long prompt computed: step = %v, want %v", computed, got, want)
		}
		computed += want[2].numNew
		if out.Scheduled[2].Sample != (computed == 40) {
			t.Fatalf("Sample = %v after computing %d of 40", out.Scheduled[2].Sample, computed)
		}
	}
	if long.NumOutputTokens != 1 || long.NumComputed != 40 {
		t.Fatalf("long prompt: %d outputs, %d computed; want 1, 40", long.NumOutputTokens, long.NumComputed)
	}
}

func TestBudgetRespected(t *testing.T) {
	h := newHarness(t, Config{MaxNumSeqs: 16, MaxNumBatchedTokens: 32, MaxModelLen: 512}, 256, 8)
	for i := range 20 {
		h.add(uint64(i), 10+7*i, 3+i%5)
	}
	for steps := 0; h.s.Stats().Running+h.s.Stats().Waiting > 0; steps++ {
		out := h.step() // the fake runner fails on a step over budget
		if out.NumBatchedTokens != 32 && h.s.Stats().Waiting > 0 {
			t.Fatalf("step %d used %d of 32 tokens with requests waiting", steps, out.NumBatchedTokens)
		}
	}
	h.assertNoLeak()
}

func TestFCFSAdmission(t *testing.T) {
	h := newHarness(t, Config{MaxNumSeqs: 2, MaxNumBatchedTokens: 64, MaxModelLen: 64}, 64, 4)
	for id := uint64(1); id <= 5; id++ {
		h.add(id, 4, 2)
	}
	var order []uint64
	for h.s.Stats().Running+h.s.Stats().Waiting > 0 {
		for _, sc := range h.step().Scheduled {
			if sc.Admitted {
				order = append(order, sc.ID)
			}
		}
	}
	if want := []uint64{1, 2, 3, 4, 5}; !slices.Equal(order, want) {
		t.Fatalf("admission order %v, want %v", order, want)
	}
}

func TestFCFSNoOvertakingForBlocks(t *testing.T) {
	h := newHarness(t, Config{MaxNumSeqs: 8, MaxNumBatchedTokens: 64, MaxModelLen: 64}, 8, 4)
	h.add(1, 20, 5) // 5 blocks
	h.step()
	h.add(2, 20, 5) // its first chunk needs 5 blocks; 3 are free
	h.add(3, 4, 1)  // would fit, but arrived later
	if got, want := plan(h.step()), []planned{{1, 1}}; !slices.Equal(got, want) {
		t.Fatalf("step = %v, want %v: request 3 must not overtake request 2", got, want)
	}
	h.drain(100)
}

func TestPreemptionAndCompletion(t *testing.T) {
	h := newHarness(t, Config{MaxNumSeqs: 8, MaxNumBatchedTokens: 64, MaxModelLen: 64}, 6, 4)
	for id := uint64(1); id <= 3; id++ {
		h.add(id, 4, 12) // each needs up to 4 blocks; together 12 of 6
	}
	preempted := 0
	for steps := 0; h.s.Stats().Running+h.s.Stats().Waiting > 0; steps++ {
		out := h.step()
		for _, id := range out.Preempted {
			preempted++
			r := h.reqs[id-1]
			if r.Status != StatusPreempted && r.Status != StatusRunning {
				t.Fatalf("preempted request %d is %v", id, r.Status)
			}
			for _, other := range h.reqs {
				if other.Status == StatusRunning && other.Arrival > r.Arrival {
					t.Fatalf("preempted %d while younger request %d kept running", id, other.ID)
				}
			}
		}
		if steps > 200 {
			t.Fatal("no completion after 200 steps")
		}
	}
	if preempted == 0 {
		t.Fatal("pool of 6 blocks for 12 blocks of demand never preempted")
	}
	for _, r := range h.reqs {
		if r.NumOutputTokens != 12 || r.Reason != FinishLength {
			t.Fatalf("request %d: %d outputs (%v), want 12 (length)", r.ID, r.NumOutputTokens, r.Reason)
		}
	}
	h.assertNoLeak()
}

func TestPreemptedRequestRecomputesAndGoesFirst(t *testing.T) {
	h := newHarness(t, Config{MaxNumSeqs: 8, MaxNumBatchedTokens: 64, MaxModelLen: 64}, 4, 4)
	h.add(1, 4, 9)
	b := h.add(2, 8, 2)
	h.step() // a holds 1 block, b 2; each sampled a token
	h.add(3, 4, 1)
	// a's 5th token takes the last block; b's 9th finds none, and b is the youngest
	// running request, so b preempts itself. Nobody is admitted in that step.
	out := h.step()
	if got, want := plan(out), []planned{{1, 1}}; !slices.Equal(got, want) || !slices.Equal(out.Preempted, []uint64{2}) {
		t.Fatalf("step = %v preempting %v; want %v preempting [2]", got, out.Preempted, want)
	}
	if b.Status != StatusPreempted || b.NumComputed != 0 || b.NumTokens() != 9 {
		t.Fatalf("b is %v with %d of %d computed; want preempted, 0 of 9", b.Status, b.NumComputed, b.NumTokens())
	}
	for {
		out = h.step()
		if i := slices.IndexFunc(out.Scheduled, func(sc Scheduled) bool { return sc.Admitted }); i >= 0 {
			sc := out.Scheduled[i]
			if sc.ID != 2 || sc.Start != 0 || sc.NumNew != 9 || !sc.Sample {
				t.Fatalf("first admission after the preemption: %+v; want b recomputing 9 tokens then sampling", sc)
			}
			break
		}
	}
	h.drain(100)
}

func TestSingleRequestFillingThePoolProgresses(t *testing.T) {
	h := newHarness(t, Config{MaxNumSeqs: 8, MaxNumBatchedTokens: 16, MaxModelLen: 64}, 8, 4)
	h.add(1, 3, 5)
	h.add(2, 20, 13) // computes at most 32 tokens: the whole pool
	h.add(3, 3, 5)
	h.drain(500)
	for _, r := range h.reqs {
		if r.NumOutputTokens != r.MaxTokens {
			t.Fatalf("request %d: %d outputs, want %d", r.ID, r.NumOutputTokens, r.MaxTokens)
		}
	}
}

func TestFinishReasons(t *testing.T) {
	h := newHarness(t, Config{MaxNumSeqs: 8, MaxNumBatchedTokens: 64, MaxModelLen: 20}, 64, 4)
	eos := h.add(1, 4, 10)
	h.runner.eosAfter[1] = 3
	long := h.add(2, 17, 10)
	maxed := h.add(3, 4, 2)
	var got []Finished
	for h.s.Stats().Running > 0 || h.s.Stats().Waiting > 0 {
		_, fin, err := h.runner.step(h.s)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fin...)
	}
	want := []Finished{{3, FinishLength}, {1, FinishStop}, {2, FinishLength}}
	if !slices.Equal(got, want) {
		t.Fatalf("finished %v, want %v", got, want)
	}
	if eos.NumOutputTokens != 3 || long.NumTokens() != 20 || maxed.NumOutputTokens != 2 {
		t.Fatalf("outputs: eos %d, long total %d, maxed %d; want 3, 20, 2",
			eos.NumOutputTokens, long.NumTokens(), maxed.NumOutputTokens)
	}
	if out := h.s.Schedule(); !slices.Equal(out.Finished, []uint64{1, 2}) {
		t.Fatalf("Output.Finished = %v, want [1 2] (finished since the last step)", out.Finished)
	}
	h.assertNoLeak()
}

func TestSixtyFourRequestsComplete(t *testing.T) {
	cfg := Config{MaxNumSeqs: 32, MaxNumBatchedTokens: 256, LongPrefillThreshold: 128, MaxModelLen: 512}
	h := newHarness(t, cfg, 96, 16)
	rng := rand.New(rand.NewPCG(1, 2))
	want := 0
	for id := range uint64(64) {
		r := h.add(id, 1+rng.IntN(300), 1+rng.IntN(64))
		want += r.MaxTokens
	}
	preempted := 0
	for steps := 0; h.s.Stats().Running+h.s.Stats().Waiting > 0; steps++ {
		if steps > 10000 {
			t.Fatal("no completion after 10000 steps")
		}
		preempted += len(h.step().Preempted)
	}
	got := 0
	for _, r := range h.reqs {
		if r.NumOutputTokens != r.MaxTokens || r.Reason != FinishLength {
			t.Fatalf("request %d: %d outputs (%v), want %d", r.ID, r.NumOutputTokens, r.Reason, r.MaxTokens)
		}
		got += r.NumOutputTokens
	}
	if got != want {
		t.Fatalf("%d tokens generated, want %d", got, want)
	}
	t.Logf("%d preemptions", preempted)
	h.assertNoLeak()
}
