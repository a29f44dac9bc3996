package engine

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graft-ai/graft/engine/compute/cpu"
	"github.com/graft-ai/graft/engine/model"
	"github.com/graft-ai/graft/engine/sample"
	"github.com/graft-ai/graft/internal/testmodels"
)

func loadStories(t testing.TB, format string) *Loaded {
	t.Helper()
	path := testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf")
	if format == "hf" {
		path = testmodels.Path(t, "stories260K", "hf")
	}
	b := cpu.New(0)
	t.Cleanup(b.Close)
	l, err := Load(path, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func newEngine(t testing.TB, l *Loaded, cfg Config) *Engine {
	t.Helper()
	e, err := New(l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func greedyParams() sample.Params { return sample.Params{TopP: 1, RepetitionPenalty: 1} }

func seededParams(seed uint64) sample.Params {
	return sample.Params{Temperature: 1, TopP: 0.9, RepetitionPenalty: 1, Seed: seed, HasSeed: true}
}

func run(t testing.TB, e *Engine, r Request) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := e.Generate(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	ev := s.Collect(ctx)
	if ev.Err != nil {
		t.Fatal(ev.Err)
	}
	return ev
}

func ids(ev Event) []int32 {
	out := make([]int32, len(ev.Tokens))
	for i, tok := range ev.Tokens {
		out[i] = tok.ID
	}
	return out
}

type referenceRun struct {
	Adapter   *string `json:"adapter"`
	Prompt    string  `json:"prompt"`
	PromptIDs []int32 `json:"prompt_ids"`
	Greedy    []int32 `json:"greedy_ids"`
	Text      string  `json:"text"`
}

func baseRuns(t *testing.T) []referenceRun {
	data, err := os.ReadFile(testmodels.Path(t, "stories260K", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Reference struct{ Runs []referenceRun } `json:"reference"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	var runs []referenceRun
	for _, r := range g.Reference.Runs {
		if r.Adapter == nil {
			runs = append(runs, r)
		}
	}
	if len(runs) == 0 {
		t.Fatal("golden.json has no base-model runs")
	}
	return runs
}

// TestGoldenRunsThroughEngine checks tokenization, greedy ids and decoded text of
// every base-model reference run, for both file formats.
func TestGoldenRunsThroughEngine(t *testing.T) {
	for _, format := range []string{"gguf", "hf"} {
		l := loadStories(t, format)
		e := newEngine(t, l, Config{})
		for _, r := range baseRuns(t) {
			prompt := []int32{1}
			if r.Prompt != "" {
				var err error
				if prompt, err = l.Tokenizer.Encode(r.Prompt, true); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(prompt, r.PromptIDs) {
				t.Errorf("%s: prompt %q encodes to %v, want %v", format, r.Prompt, prompt, r.PromptIDs)
			}
			ev := run(t, e, Request{Prompt: prompt, Sampling: greedyParams(), MaxTokens: len(r.Greedy)})
			if got := ids(ev); !slices.Equal(got, r.Greedy) {
				t.Errorf("%s: prompt %q: ids %v, want %v", format, r.Prompt, got, r.Greedy)
			}
			if ev.Text != r.Text {
				t.Errorf("%s: prompt %q: text %q, want %q", format, r.Prompt, ev.Text, r.Text)
			}
			if ev.Finish != FinishLength || ev.CompletionTokens != len(r.Greedy) || ev.PromptTokens != len(prompt) {
				t.Errorf("%s: finish %q usage %d+%d", format, ev.Finish, ev.PromptTokens, ev.CompletionTokens)
			}
		}
	}
}

// mixedRequests makes n requests with prompts of different lengths, greedy and
// seeded, so a batch mixes prefill chunks with decodes.
func mixedRequests(n int, vocab int) []Request {
	rng := rand.New(rand.NewPCG(7, 7))
	reqs := make([]Request, n)
	for i := range reqs {
		prompt := []int32{1}
		for range 1 + rng.IntN(90) {
			prompt = append(prompt, int32(3+rng.IntN(vocab-3)))
		}
		p := greedyParams()
		if i%2 == 1 {
			p = seededParams(uint64(1000 + i))
		}
		reqs[i] = Request{Prompt: prompt, Sampling: p, MaxTokens: 8 + rng.IntN(40), IgnoreEOS: true}
	}
	return reqs
}

func runConcurrently(t *testing.T, e *Engine, reqs []Request) [][]int32 {
	t.Helper()
	out := make([][]int32, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			s, err := e.Generate(ctx, r)
			if err != nil {
				t.Error(err)
				return
			}
			ev := s.Collect(ctx)
			if ev.Err != nil || ev.Finish != FinishLength {
				t.Errorf("request %d: finish %q err %v", i, ev.Finish, ev.Err)
			}
			out[i] = ids(ev)
		})
	}
	wg.Wait()
	return out
}

// TestBatchInvariance: each request yields the same tokens alone as batched with
// up to 32 others of different lengths (greedy and seeded sampling alike), and
// 64 concurrent requests match running them one by one, with the prefix cache
// and without: prompts sharing prefixes get the same tokens from cached K/V
// as from computing it.
func TestBatchInvariance(t *testing.T) {
	l := loadStories(t, "gguf")
	reqs := append(mixedRequests(64, l.Model.Config.Vocab), sharedPrefixRequests(24, l.Model.Config.Vocab)...)
	alone := newEngine(t, l, Config{MaxNumSeqs: 1, DisablePrefixCaching: true})
	want := make([][]int32, len(reqs))
	for i, r := range reqs {
		want[i] = ids(run(t, alone, r))
		if len(want[i]) != r.MaxTokens {
			t.Fatalf("request %d: %d tokens, want max_tokens %d", i, len(want[i]), r.MaxTokens)
		}
	}
	cachedAlone := newEngine(t, l, Config{MaxNumSeqs: 1})
	for i, r := range reqs {
		if got := ids(run(t, cachedAlone, r)); !slices.Equal(got, want[i]) {
			t.Errorf("request %d one by one with the prefix cache gave %v, without %v", i, got, want[i])
		}
	}
	if st := cachedAlone.Stats(); st.PrefixCacheHits == 0 {
		t.Fatalf("one by one, the shared prefixes never hit the cache: %+v", st)
	}
	for _, cfg := range []Config{
		{MaxNumSeqs: 33, MaxBatchedTokens: 256},
		{MaxNumSeqs: 64, MaxBatchedTokens: 64}, // small budget: prompts prefill in chunks
	} {
		for _, off := range []bool{false, true} {
			cfg.DisablePrefixCaching = off
			e := newEngine(t, l, cfg)
			got := runConcurrently(t, e, reqs)
			for i := range reqs {
				if !slices.Equal(got[i], want[i]) {
					t.Errorf("%+v: request %d batched gave %v, alone %v", cfg, i, got[i], want[i])
				}
			}
			assertNoLeak(t, e)
		}
	}
}

// TestPreemptionUnderCachePressure: with a cache far too small for all requests
// at once, sequences are preempted and recomputed, yet every output is exact.
func TestPreemptionUnderCachePressure(t *testing.T) {
	l := loadStories(t, "gguf")
	reqs := mixedRequests(24, l.Model.Config.Vocab)
	alone := newEngine(t, l, Config{MaxNumSeqs: 1})
	tiny := newEngine(t, l, Config{MaxNumSeqs: 24, MaxModelLen: 256,
		KVCacheBytes: 20 * 16 * l.Model.Config.KVBytesPerToken(model.KVF32)})
	got := runConcurrently(t, tiny, reqs)
	for i, r := range reqs {
		if want := ids(run(t, alone, r)); !slices.Equal(got[i], want) {
			t.Errorf("request %d under preemption gave %v, want %v", i, got[i], want)
		}
	}
	assertNoLeak(t, tiny)
}

func assertNoLeak(t *testing.T, e *Engine) {
	t.Helper()
	if err := e.CheckCache(); err != nil {
		t.Fatal(err)
	}
	if s := e.Stats(); s.KVBlocksUsed != 0 || s.Running != 0 || s.Waiting != 0 {
		t.Fatalf("after all requests finished: %+v", s)
	}
}

func TestCancelFreesBlocksAtOnce(t *testing.T) {
	l := loadStories(t, "gguf")
	e := newEngine(t, l, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	s, err := e.Generate(ctx, Request{Prompt: []int32{1}, Sampling: greedyParams(), MaxTokens: 400, IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, ok := s.Next(context.Background()); !ok {
			t.Fatal("stream ended early")
		}
	}
	if e.Stats().KVBlocksUsed == 0 {
		t.Fatal("a running sequence holds no KV blocks")
	}
	cancel()
	ev := s.Collect(context.Background())
	if ev.Finish != FinishCancelled {
		t.Fatalf("finish = %q, want cancelled", ev.Finish)
	}
	assertNoLeak(t, e)
}

func TestStops(t *testing.T) {
	l := loadStories(t, "gguf")
	e := newEngine(t, l, Config{})
	base := run(t, e, Request{Prompt: []int32{1}, Sampling: greedyParams(), MaxTokens: 40})
	// The greedy text is "Once upon a time, there was a little girl named Lily. ..."
	ev := run(t, e, Request{Prompt: []int32{1}, Sampling: greedyParams(), MaxTokens: 40, Stop: []string{"little girl"}})
	if ev.Text != "Once upon a time, there was a " || ev.Finish != FinishStop {
		t.Errorf("stop string: text %q finish %q", ev.Text, ev.Finish)
	}
	ev = run(t, e, Request{Prompt: []int32{1}, Sampling: greedyParams(), MaxTokens: 40, Stop: []string{"little girl"}, IncludeStopStr: true})
	if ev.Text != "Once upon a time, there was a little girl" {
		t.Errorf("include stop: text %q", ev.Text)
	}
	stopID := base.Tokens[5].ID
	ev = run(t, e, Request{Prompt: []int32{1}, Sampling: greedyParams(), MaxTokens: 40, StopTokenIDs: []int32{stopID}})
	if got := ids(ev); ev.Finish != FinishStop || !slices.Equal(got, ids(base)[:6]) {
		t.Errorf("stop id %d: ids %v finish %q", stopID, got, ev.Finish)
	}
}

// TestEOSEndsGeneration: greedy stories260K from BOS emits BOS again after
// exactly 345 tokens (llama2.c's stop; golden.json greedy_until_bos_length) and
// never EOS. With BOS as the end-of-sequence id, generation stops there with
// finish "stop", the id counted but not shown; with IgnoreEOS it runs on; with
// the real EOS it runs to the end of the context with finish "length".
func TestEOSEndsGeneration(t *testing.T) {
	l := loadStories(t, "gguf")
	bosStops := *l
	bosStops.EOS = []int32{1}
	e := newEngine(t, &bosStops, Config{})
	ev := run(t, e, Request{Prompt: []int32{1}, Sampling: greedyParams()})
	if ev.Finish != FinishStop || len(ev.Tokens) != 346 || ev.Tokens[345].ID != 1 || ev.CompletionTokens != 346 {
		t.Fatalf("finish %q after %d tokens (last %d), want stop on BOS after 345", ev.Finish, len(ev.Tokens), ev.Tokens[len(ev.Tokens)-1].ID)
	}
	if strings.Contains(ev.Text, "<s>") {
		t.Error("the end-of-sequence token's text reached the output")
	}
	ev = run(t, e, Request{Prompt: []int32{1}, Sampling: greedyParams(), MaxTokens: 360, IgnoreEOS: true})
	if ev.Finish != FinishLength || len(ev.Tokens) != 360 {
		t.Fatalf("ignore_eos: finish %q after %d tokens, want length after 360", ev.Finish, len(ev.Tokens))
	}
	real := newEngine(t, l, Config{MaxModelLen: 400})
	ev = run(t, real, Request{Prompt: []int32{1}, Sampling: greedyParams()})
	if ev.Finish != FinishLength || ev.PromptTokens+ev.CompletionTokens != 400 {
		t.Fatalf("finish %q at %d tokens, want length at the 400-token context", ev.Finish, ev.PromptTokens+ev.CompletionTokens)
	}
}

func TestRequestErrors(t *testing.T) {
	l := loadStories(t, "gguf")
	e := newEngine(t, l, Config{MaxModelLen: 64})
	long := make([]int32, 64)
	cases := []struct {
		name  string
		req   Request
		param string
	}{
		{"empty prompt", Request{Sampling: greedyParams()}, "prompt.token_ids"},
		{"prompt fills context", Request{Prompt: long, Sampling: greedyParams()}, "prompt.token_ids"},
		{"too many tokens", Request{Prompt: []int32{1}, Sampling: greedyParams(), MaxTokens: 100}, "sampling.max_tokens"},
		{"bad token", Request{Prompt: []int32{1, 9999}, Sampling: greedyParams()}, "prompt.token_ids"},
		{"bad top_p", Request{Prompt: []int32{1}, Sampling: sample.Params{TopP: 2, RepetitionPenalty: 1}}, "sampling.top_p"},
		{"n over the batch", Request{Prompt: []int32{1}, Sampling: greedyParams(), N: 1000}, "n"},
		{"bad stop id", Request{Prompt: []int32{1}, Sampling: greedyParams(), StopTokenIDs: []int32{-1}}, "sampling.stop_token_ids"},
	}
	for _, c := range cases {
		_, err := e.Generate(context.Background(), c.req)
		re, ok := err.(*RequestError)
		if !ok || re.Param != c.param {
			t.Errorf("%s: err = %v, want a RequestError on %q", c.name, err, c.param)
		}
	}
	assertNoLeak(t, e)
}

func TestSeededSamplingIsReproducible(t *testing.T) {
	l := loadStories(t, "gguf")
	e := newEngine(t, l, Config{})
	r := Request{Prompt: []int32{1}, Sampling: seededParams(133742), MaxTokens: 64}
	a, b := ids(run(t, e, r)), ids(run(t, e, r))
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different tokens:\n%v\n%v", a, b)
	}
	r.Sampling.Seed = 133743
	if c := ids(run(t, e, r)); slices.Equal(a, c) {
		t.Fatal("different seeds gave identical 64-token samples")
	}
}
