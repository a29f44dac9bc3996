package scheduler

import (
	"errors"
	"slices"
	"testing"
)

func (h *harness) addN(id uint64, prompt, maxTokens, n int) *Request {
	h.t.Helper()
	r := &Request{ID: id, NumPromptTokens: prompt, MaxTokens: maxTokens, N: n}
	if err := h.s.Add(r); err != nil {
		h.t.Fatal(err)
	}
	h.runner.n[id] = n
	h.reqs = append(h.reqs, r)
	return r
}

// TestForkPrefillsOnce: four sequences of a 10-token prompt compute the prompt
// once, copy its partial block three times, and each generate their tokens.
func TestForkPrefillsOnce(t *testing.T) {
	h := newHarness(t, Config{MaxNumSeqs: 8, MaxNumBatchedTokens: 64, MaxModelLen: 64}, 32, 4)
	h.addN(1, 10, 5, 4)
	prompt, copies := 0, 0
	for h.s.Stats().Running+h.s.Stats().Waiting > 0 {
		out := h.step()
		copies += len(out.Copies)
		for _, sc := range out.Scheduled {
			if sc.Start < 10 {
				prompt += min(sc.NumNew, 10-sc.Start)
			}
		}
	}
	if prompt != 10 || copies != 3 {
		t.Fatalf("computed %d prompt tokens with %d block copies; want 10 and 3", prompt, copies)
	}
	if len(h.runner.forks) != 3 {
		t.Fatalf("%d forks, want 3", len(h.runner.forks))
	}
	for id := range h.runner.forks {
		if h.runner.outputs[id] != 5 {
			t.Fatalf("fork %d generated %d tokens, want 5", id, h.runner.outputs[id])
		}
	}
	h.assertNoLeak()
}

// TestForkWithoutABlockRecomputes: with no block free for a fork's copy, the
// fork waits and recomputes, and every sequence still completes.
func TestForkWithoutABlockRecomputes(t *testing.T) {
	h := newHarness(t, Config{MaxNumSeqs: 8, MaxNumBatchedTokens: 64, MaxModelLen: 64}, 3, 4)
	h.addN(1, 10, 2, 3)
	h.step() // the prompt fills all three blocks
	out := h.step()
	if len(out.Preempted) != 2 || len(out.Copies) != 0 {
		t.Fatalf("after the fork: preempted %v, copies %v; want both forks waiting", out.Preempted, out.Copies)
	}
	h.drain(100)
	for id := range h.runner.forks {
		if h.runner.outputs[id] != 2 {
			t.Fatalf("fork %d generated %d tokens, want 2", id, h.runner.outputs[id])
		}
	}
}

// TestForkHoldsItsSeats: a request of 3 sequences holds 3 of 4 seats before it
// forks, so a second request of 2 waits for seats and does not overtake.
func TestForkHoldsItsSeats(t *testing.T) {
	h := newHarness(t, Config{MaxNumSeqs: 4, MaxNumBatchedTokens: 64, MaxModelLen: 64}, 64, 4)
	h.addN(1, 8, 4, 3)
	h.addN(2, 8, 4, 2)
	h.add(3, 2, 4)
	if got := plan(h.step()); !slices.Equal(got, []planned{{1, 8}}) {
		t.Fatalf("first step %v; want only request 1", got)
	}
	if err := h.s.Add(&Request{ID: 9, NumPromptTokens: 1, MaxTokens: 1, N: 5}); err == nil {
		t.Fatal("a request of 5 sequences accepted with 4 seats")
	}
	h.drain(100)
}

func TestQueueBound(t *testing.T) {
	h := newHarness(t, Config{MaxNumSeqs: 4, MaxNumBatchedTokens: 64, MaxModelLen: 64, MaxWaiting: 2}, 64, 4)
	h.add(1, 4, 4)
	h.add(2, 4, 4)
	if err := h.s.Add(&Request{ID: 3, NumPromptTokens: 4, MaxTokens: 4}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third waiting request: %v, want ErrQueueFull", err)
	}
	h.step()
	h.add(3, 4, 4) // the first two run now
	h.drain(100)
}

func TestPausedAdapterWaitsWhileOthersRun(t *testing.T) {
	h := newHarness(t, Config{MaxNumSeqs: 4, MaxNumBatchedTokens: 64, MaxModelLen: 64, MaxActiveAdapters: 2}, 64, 4)
	h.s.PauseAdapter("a")
	for i, ad := range []string{"a", "", "b"} {
		if err := h.s.Add(&Request{ID: uint64(i + 1), NumPromptTokens: 2, MaxTokens: 3, Adapter: ad}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		for _, sc := range h.step().Scheduled {
			if sc.ID == 1 {
				t.Fatal("a request of a paused adapter ran")
			}
		}
	}
	if c := h.s.AdapterSequences()["a"]; c != (SequenceCount{Waiting: 1}) {
		t.Fatalf("adapter a: %+v, want one waiting", c)
	}
	h.s.ResumeAdapter("a")
	h.drain(100)
}

// TestCancelWhileForking: a request cancelled while the runner samples its
// forks' first tokens takes the forks with it; Update reports each as
// cancelled, since the runner holds them and nothing else would end them.
func TestCancelWhileForking(t *testing.T) {
	h := newHarness(t, Config{MaxNumSeqs: 8, MaxNumBatchedTokens: 64, MaxModelLen: 64}, 32, 4)
	h.addN(1, 10, 5, 4)
	out := h.s.Schedule()
	res, err := h.runner.execute(out)
	if err != nil {
		t.Fatal(err)
	}
	var forks []uint64
	for _, r := range res {
		for _, f := range r.Forks {
			forks = append(forks, f.ID)
		}
	}
	if len(forks) != 3 {
		t.Fatalf("the prompt step split %d forks, want 3", len(forks))
	}
	if !h.s.Cancel(1) {
		t.Fatal("Cancel(1) did not find the running request")
	}
	fin := h.s.Update(out, res)
	var got []uint64
	for _, f := range fin {
		if f.Reason != FinishCancelled {
			t.Errorf("fork %d finished %q, want cancelled", f.ID, f.Reason)
		}
		got = append(got, f.ID)
	}
	slices.Sort(got)
	slices.Sort(forks)
	if !slices.Equal(got, forks) {
		t.Fatalf("Update finished %v, want the forks %v", got, forks)
	}
	if err := h.s.Check(); err != nil {
		t.Fatal(err)
	}
	h.assertNoLeak()
}
