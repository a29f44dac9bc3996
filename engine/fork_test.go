package engine

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/graft-ai/graft/engine/model"
	"github.com/graft-ai/graft/engine/sample"
)

func runN(t testing.TB, e *Engine, r Request) []Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := e.Generate(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	evs := s.CollectN(ctx, r.N)
	for i, ev := range evs {
		if ev.Err != nil || ev.Index != i {
			t.Fatalf("sequence %d: index %d, %v", i, ev.Index, ev.Err)
		}
	}
	return evs
}

// forkPrompt is 21 tokens: one full 16-token block shared, one partial copied.
func forkPrompt() []int32 {
	p := make([]int32, 21)
	for i := range p {
		p[i] = int32(1 + i*7%300)
	}
	return p
}

// TestNSequencesPrefillOnce: n=4 with temperature and penalties prefills the
// prompt once and gives what 4 single requests with seeds seed..seed+3 give;
// greedy n=4 gives 4 copies of the greedy single.
func TestNSequencesPrefillOnce(t *testing.T) {
	l := loadStories(t, "gguf")
	e := newEngine(t, l, Config{})
	prompt := forkPrompt()
	seeded := sample.Params{Temperature: 0.9, TopP: 0.95, RepetitionPenalty: 1, FrequencyPenalty: 0.5, Seed: 7, HasSeed: true}
	before := e.Stats()
	evs := runN(t, e, Request{Prompt: prompt, Sampling: seeded, MaxTokens: 40, N: 4})
	after := e.Stats()
	if got := after.PrefillTokens - before.PrefillTokens; got != uint64(len(prompt)) {
		t.Errorf("n=4 prefilled %d tokens, want the prompt's %d once", got, len(prompt))
	}
	if got := after.PromptTokens - before.PromptTokens; got != uint64(len(prompt)) {
		t.Errorf("prompt tokens grew by %d, want %d", got, len(prompt))
	}
	var generated uint64
	distinct := map[string]bool{}
	for i, ev := range evs {
		p := seeded
		p.Seed += uint64(i)
		want := run(t, e, Request{Prompt: prompt, Sampling: p, MaxTokens: 40})
		if !slices.Equal(ids(ev), ids(want)) || ev.Text != want.Text || ev.Finish != want.Finish {
			t.Errorf("sequence %d: %v %q (%s), want seed %d's %v %q (%s)", i, ids(ev), ev.Text, ev.Finish, p.Seed, ids(want), want.Text, want.Finish)
		}
		generated += uint64(len(ev.Tokens))
		distinct[ev.Text] = true
	}
	if got := after.GenerationTokens - before.GenerationTokens; got != generated {
		t.Errorf("generation tokens grew by %d, want %d", got, generated)
	}
	if len(distinct) < 2 {
		t.Errorf("four seeds gave one text %q: the test shows nothing", evs[0].Text)
	}
	greedy := ids(run(t, e, Request{Prompt: prompt, Sampling: greedyParams(), MaxTokens: 30}))
	for i, ev := range runN(t, e, Request{Prompt: prompt, Sampling: greedyParams(), MaxTokens: 30, N: 4}) {
		if !slices.Equal(ids(ev), greedy) {
			t.Errorf("greedy sequence %d: %v, want %v", i, ids(ev), greedy)
		}
	}
	assertNoLeak(t, e)
}

// TestNSequencesUnderPreemptionAndCancel: forks in a cache too small for all
// of them are preempted and recomputed and still equal the singles; a request
// cancelled before and after its fork frees every shared block.
func TestNSequencesUnderPreemptionAndCancel(t *testing.T) {
	l := loadStories(t, "gguf")
	alone := newEngine(t, l, Config{})
	tiny := newEngine(t, l, Config{MaxModelLen: 256, KVCacheBytes: 20 * 16 * l.Model.Config.KVBytesPerToken(model.KVF32)})
	prompt := forkPrompt()
	req := Request{Prompt: prompt, Sampling: seededParams(3), MaxTokens: 120, IgnoreEOS: true, N: 3}
	got := runN(t, tiny, req)
	for i, ev := range got {
		p := seededParams(3 + uint64(i))
		if want := ids(run(t, alone, Request{Prompt: prompt, Sampling: p, MaxTokens: 120, IgnoreEOS: true})); !slices.Equal(ids(ev), want) {
			t.Errorf("sequence %d under preemption: %v, want %v", i, ids(ev), want)
		}
	}
	assertNoLeak(t, tiny)

	for _, after := range []int{0, 5} {
		ctx, cancel := context.WithCancel(context.Background())
		s, err := tiny.Generate(ctx, Request{Prompt: prompt, Sampling: seededParams(1), MaxTokens: 200, IgnoreEOS: true, N: 4})
		if err != nil {
			t.Fatal(err)
		}
		for range after {
			if _, ok := s.Next(context.Background()); !ok {
				t.Fatal("stream ended early")
			}
		}
		cancel()
		for i, ev := range s.CollectN(context.Background(), 4) {
			if ev.Finish != FinishCancelled {
				t.Errorf("cancelled after %d events: sequence %d finished %q", after, i, ev.Finish)
			}
		}
		assertNoLeak(t, tiny)
	}
}

// TestCancelRacesTheFork: cancels landing anywhere around the step that
// splits a request's forks (before it, while it samples their first tokens,
// after it) end every sequence with FinishCancelled; none is left open.
func TestCancelRacesTheFork(t *testing.T) {
	l := loadStories(t, "gguf")
	e := newEngine(t, l, Config{})
	prompt := forkPrompt()
	for i := range 60 {
		s, err := e.Generate(context.Background(), Request{Prompt: prompt, Sampling: seededParams(uint64(i)), MaxTokens: 200, IgnoreEOS: true, N: 4})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			time.Sleep(time.Duration(i%20) * 50 * time.Microsecond)
			s.Cancel()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		for j, ev := range s.CollectN(ctx, 4) {
			if ev.Finish != FinishCancelled || ev.Err != nil {
				t.Fatalf("try %d: sequence %d finished %q (%v), want cancelled by the engine", i, j, ev.Finish, ev.Err)
			}
		}
		cancel()
		assertNoLeak(t, e)
	}
}

// TestQueueBound: with one sequence running and MaxQueued waiting, Generate
// refuses the next request with ErrQueueFull.
func TestQueueBound(t *testing.T) {
	l := loadStories(t, "gguf")
	e := newEngine(t, l, Config{MaxNumSeqs: 1, MaxQueued: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	long := Request{Prompt: []int32{1}, Sampling: greedyParams(), MaxTokens: 500, IgnoreEOS: true}
	s, err := e.Generate(ctx, long)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Next(ctx); !ok { // running now
		t.Fatal("stream ended early")
	}
	if _, err := e.Generate(ctx, long); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Generate(ctx, long); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third request: %v, want ErrQueueFull", err)
	}
	if st := e.Stats(); st.MaxQueued != 1 || st.Waiting != 1 {
		t.Fatalf("stats %+v, want one waiting of at most one", st)
	}
}
