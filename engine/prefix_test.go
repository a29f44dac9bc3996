package engine

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// sharedPrefixRequests makes n requests whose prompts start with one of two
// system prompts (one exactly four 16-token blocks long) and go on with a
// suffix of their own, or none, greedy and seeded.
func sharedPrefixRequests(n int, vocab int) []Request {
	rng := rand.New(rand.NewPCG(9, 9))
	prefixes := make([][]int32, 2)
	for i, size := range []int{64, 83} {
		prefixes[i] = []int32{1}
		for len(prefixes[i]) < size {
			prefixes[i] = append(prefixes[i], int32(3+rng.IntN(vocab-3)))
		}
	}
	reqs := make([]Request, n)
	for i := range reqs {
		prompt := slices.Clone(prefixes[i%2])
		if i%3 != 0 {
			for range 1 + rng.IntN(40) {
				prompt = append(prompt, int32(3+rng.IntN(vocab-3)))
			}
		}
		p := greedyParams()
		if i%2 == 1 {
			p = seededParams(uint64(2000 + i))
		}
		reqs[i] = Request{Prompt: prompt, Sampling: p, MaxTokens: 4 + rng.IntN(30), IgnoreEOS: true}
	}
	return reqs
}

// TestCachedTokensReported: a repeated prompt reports the tokens served from
// the cache, whole blocks short of the prompt's last token; a first one none;
// n sequences all report their prompt's.
func TestCachedTokensReported(t *testing.T) {
	l := loadStories(t, "gguf")
	e := newEngine(t, l, Config{})
	prompt := sharedPrefixRequests(1, l.Model.Config.Vocab)[0].Prompt // 64 tokens
	r := Request{Prompt: prompt, Sampling: greedyParams(), MaxTokens: 3}
	if ev := run(t, e, r); ev.CachedTokens != 0 {
		t.Fatalf("first run: %d cached tokens, want 0", ev.CachedTokens)
	}
	if ev := run(t, e, r); ev.CachedTokens != 48 {
		t.Fatalf("repeated 64-token prompt: %d cached tokens, want 48 (the last block is computed for its logits)", ev.CachedTokens)
	}
	r.Prompt = append(slices.Clone(prompt), 5, 6, 7)
	r.N = 3
	for _, ev := range runN(t, e, r) {
		if ev.CachedTokens != 64 {
			t.Fatalf("sequence %d: %d cached tokens, want 64", ev.Index, ev.CachedTokens)
		}
	}
	st := e.Stats()
	if st.PrefixCacheHits != 48+64 || st.PrefixCacheQueries != 64+64+67 {
		t.Fatalf("stats %d hits of %d queried, want %d of %d", st.PrefixCacheHits, st.PrefixCacheQueries, 48+64, 64+64+67)
	}
	off := newEngine(t, l, Config{DisablePrefixCaching: true})
	run(t, off, r)
	if ev := run(t, off, r); ev.CachedTokens != 0 {
		t.Fatalf("prefix caching off: %d cached tokens", ev.CachedTokens)
	}
	assertNoLeak(t, e)
}

// TestAdaptersNeverShareKV: the same prompt under the base model and each
// adapter never reuses another's K/V, yet each repeats its own; the outputs
// equal an engine without the cache.
func TestAdaptersNeverShareKV(t *testing.T) {
	l := loadStories(t, "gguf")
	e := newEngine(t, l, Config{})
	ref := newEngine(t, l, Config{DisablePrefixCaching: true})
	loadAdapters(t, e, storyAdapters...)
	loadAdapters(t, ref, storyAdapters...)
	prompt := sharedPrefixRequests(2, l.Model.Config.Vocab)[1].Prompt
	for round := range 2 {
		for _, a := range append([]string{""}, storyAdapters...) {
			r := Request{Prompt: prompt, Adapter: a, Sampling: greedyParams(), MaxTokens: 12, IgnoreEOS: true}
			ev := run(t, e, r)
			if round == 0 && ev.CachedTokens != 0 {
				t.Errorf("adapter %q reused %d tokens of K/V another adapter computed", a, ev.CachedTokens)
			}
			if round == 1 && ev.CachedTokens == 0 {
				t.Errorf("adapter %q did not reuse its own cached prompt", a)
			}
			if want := ids(run(t, ref, r)); !slices.Equal(ids(ev), want) {
				t.Errorf("round %d adapter %q: %v, without the cache %v", round, a, ids(ev), want)
			}
		}
	}
	assertNoLeak(t, e)
}

// TestReloadedAdapterDoesNotReuseStaleKV: an adapter unloaded and loaded again
// under the same name with other weights computes its prompt afresh, while a
// copy of the same weights under another name shares the cache: the key is
// the content, not the name.
func TestReloadedAdapterDoesNotReuseStaleKV(t *testing.T) {
	l := loadStories(t, "gguf")
	e := newEngine(t, l, Config{})
	ref := newEngine(t, l, Config{DisablePrefixCaching: true})
	loadAdapters(t, ref, "qv-r4", "all-r8")
	prompt := sharedPrefixRequests(2, l.Model.Config.Vocab)[1].Prompt
	req := func(a string) Request {
		return Request{Prompt: prompt, Adapter: a, Sampling: greedyParams(), MaxTokens: 10, IgnoreEOS: true}
	}
	if _, err := e.LoadAdapter("support", adapterDir(t, "qv-r4")); err != nil {
		t.Fatal(err)
	}
	run(t, e, req("support"))
	if err := e.UnloadAdapter(t.Context(), "support", false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.LoadAdapter("support", adapterDir(t, "all-r8")); err != nil {
		t.Fatal(err)
	}
	ev := run(t, e, req("support"))
	if ev.CachedTokens != 0 {
		t.Fatalf("re-uploaded adapter reused %d tokens of the old weights' K/V", ev.CachedTokens)
	}
	if want := ids(run(t, ref, req("all-r8"))); !slices.Equal(ids(ev), want) {
		t.Fatalf("re-uploaded adapter gave %v, want the new weights' %v", ids(ev), want)
	}
	copyDir := filepath.Join(t.TempDir(), "copy")
	copyAdapter(t, adapterDir(t, "all-r8"), copyDir)
	if _, err := e.LoadAdapter("same-weights", copyDir); err != nil {
		t.Fatal(err)
	}
	if ev := run(t, e, req("same-weights")); ev.CachedTokens == 0 {
		t.Fatal("an adapter with equal weights under another name did not share the cached prompt")
	}
	assertNoLeak(t, e)
}

func copyAdapter(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"adapter_config.json", "adapter_model.safetensors"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGeneratedTextIsCached: a chat's next turn, whose prompt is the last
// prompt, the answer and a new message, reuses the K/V of the answer too, and
// answers as it would without the cache.
func TestGeneratedTextIsCached(t *testing.T) {
	l := loadStories(t, "gguf")
	e := newEngine(t, l, Config{})
	ref := newEngine(t, l, Config{DisablePrefixCaching: true})
	first := Request{Prompt: sharedPrefixRequests(1, l.Model.Config.Vocab)[0].Prompt[:40], Sampling: greedyParams(), MaxTokens: 30, IgnoreEOS: true}
	answer := ids(run(t, e, first))
	next := first
	next.Prompt = append(append(slices.Clone(first.Prompt), answer...), 7, 8, 9, 10, 11)
	next.MaxTokens = 12
	ev := run(t, e, next)
	// 40 + 30 tokens, of which the last was never fed back: 4 full blocks.
	if ev.CachedTokens != 64 {
		t.Fatalf("next turn: %d cached tokens, want 64 (prompt and answer blocks)", ev.CachedTokens)
	}
	if want := ids(run(t, ref, next)); !slices.Equal(ids(ev), want) {
		t.Fatalf("next turn from the cache %v, computed %v", ids(ev), want)
	}
	// n sequences each cache their own answers: the second one's continuation
	// finds its own blocks, not the first one's.
	forked := first
	forked.Sampling, forked.N = seededParams(5), 2
	evs := runN(t, e, forked)
	for _, ev := range evs {
		cont := first
		cont.Prompt = append(append(slices.Clone(first.Prompt), ids(ev)...), 3)
		cont.MaxTokens = 4
		if got := run(t, e, cont); got.CachedTokens != 64 {
			t.Fatalf("sequence %d's continuation: %d cached tokens, want 64", ev.Index, got.CachedTokens)
		} else if want := ids(run(t, ref, cont)); !slices.Equal(ids(got), want) {
			t.Fatalf("sequence %d's continuation from the cache %v, computed %v", ev.Index, ids(got), want)
		}
	}
	assertNoLeak(t, e)
}
