package scheduler

import (
	"slices"
	"sync"
	"testing"
)

func TestCancelFreesBlocksImmediately(t *testing.T) {
	h := newHarness(t, Config{MaxNumSeqs: 8, MaxNumBatchedTokens: 64, MaxModelLen: 64}, 16, 4)
	h.add(1, 30, 10)
	h.add(2, 4, 10)
	h.step()
	before := h.pool.NumFree()
	done := make(chan bool)
	go func() { done <- h.s.Cancel(1) }()
	if !<-done {
		t.Fatal("Cancel(1) did not find the running request")
	}
	if got := h.pool.NumFree(); got != before+8 {
		t.Fatalf("after Cancel returned: %d free, want %d", got, before+8)
	}
	if h.reqs[0].Status != StatusFinished || h.reqs[0].Reason != FinishCancelled {
		t.Fatalf("cancelled request is %v (%v)", h.reqs[0].Status, h.reqs[0].Reason)
	}
	if h.s.Cancel(1) || h.s.Cancel(99) {
		t.Fatal("Cancel of a finished or unknown id reported true")
	}
	if out := h.step(); !slices.Equal(out.Finished, []uint64{1}) {
		t.Fatalf("Output.Finished = %v, want [1]", out.Finished)
	}
	h.drain(100)
}

func TestCancelDuringAStep(t *testing.T) {
	h := newHarness(t, Config{MaxNumSeqs: 8, MaxNumBatchedTokens: 64, MaxModelLen: 64}, 16, 4)
	h.add(1, 8, 10)
	h.add(2, 8, 10)
	waiting := h.add(3, 60, 1) // does not fit beside the others: stays waiting
	out := h.s.Schedule()
	res, err := h.runner.execute(out)
	if err != nil {
		t.Fatal(err)
	}
	h.s.Cancel(2) // the runner already ran it; Update must skip it
	h.s.Cancel(3)
	if fin := h.s.Update(out, res); len(fin) != 0 {
		t.Fatalf("Update finished %v", fin)
	}
	if waiting.Status != StatusFinished || h.reqs[1].Status != StatusFinished || h.reqs[0].NumComputed != 8 {
		t.Fatalf("cancelled: waiting one %v, running one %v; the other computed %d of 8",
			waiting.Status, h.reqs[1].Status, h.reqs[0].NumComputed)
	}
	if err := h.s.Check(); err != nil {
		t.Fatal(err)
	}
	h.drain(100)
}

func TestConcurrentCancelWhileScheduling(t *testing.T) {
	h := newHarness(t, Config{MaxNumSeqs: 16, MaxNumBatchedTokens: 48, MaxModelLen: 256}, 40, 8)
	for id := range uint64(40) {
		h.add(id, 5+int(id)*3, 20)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for id := uint64(0); id < 40; id += 3 {
			h.s.Cancel(id)
		}
	})
	_, err := h.runner.drain(h.s, 2000)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	h.drain(2000) // cancels after the first drain finished
}

func TestRunnerSeesCancelledStateDropped(t *testing.T) {
	h := newHarness(t, Config{MaxNumSeqs: 8, MaxNumBatchedTokens: 64, MaxModelLen: 64}, 16, 4)
	h.add(1, 8, 10)
	h.step()
	h.s.Cancel(1)
	if err := h.s.Add(&Request{ID: 1, NumPromptTokens: 4, MaxTokens: 2}); err != nil {
		t.Fatalf("re-adding a finished id: %v", err)
	}
	out := h.step() // the runner must drop id 1's old state before its new admission
	if !slices.Equal(out.Finished, []uint64{1}) || !out.Scheduled[0].Admitted {
		t.Fatalf("step = %+v", out)
	}
	h.drain(100)
}
