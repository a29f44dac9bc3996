package engine

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/graft-ai/graft/engine/lora"
	"github.com/graft-ai/graft/engine/model"
)

// mergedRefLoader loads adapters as usual, except that a directory named
// "merged" is the merge of refMerge's adapters, done here by lora.Merge: an
// engine serving it as a plain adapter is the reference for merged requests.
type mergedRefLoader struct {
	t    *testing.T
	dirs []string
	spec lora.MergeSpec
}

func (m *mergedRefLoader) load(dir string, mc *model.Config, maxRank int) (*lora.Adapter, error) {
	if dir != "merged" {
		return lora.Load(dir, mc, maxRank)
	}
	var in []*lora.Adapter
	for _, d := range m.dirs {
		a, err := lora.Load(d, mc, maxRank)
		if err != nil {
			return nil, err
		}
		in = append(in, a)
	}
	return lora.Merge(in, m.spec)
}

var tiesSpec = lora.MergeSpec{Weights: []float64{0.8, 1.2}, Strategy: lora.MergeTIES, Density: 0.5, MajoritySign: lora.SignTotal}

// TestMergedAdapterRequests: requests naming two adapters merged with TIES get
// the tokens of the merged adapter served as a plain one, batched with base,
// plain-adapter and other merged requests; the merge is computed once per
// (adapters, spec) and a different spec is another adapter.
func TestMergedAdapterRequests(t *testing.T) {
	l := loadStories(t, "gguf")
	comps := []string{"qv-r4", "all-r8"}
	ml := &mergedRefLoader{t: t, dirs: []string{adapterDir(t, comps[0]), adapterDir(t, comps[1])}, spec: tiesSpec}
	ref := newEngine(t, l, Config{MaxNumSeqs: 1, AdapterLoader: ml.load})
	if _, err := ref.LoadAdapter("ref-merged", "merged"); err != nil {
		t.Fatal(err)
	}
	loadAdapters(t, ref, comps...)
	e := newEngine(t, l, Config{MaxNumSeqs: 32, MaxBatchedTokens: 128})
	loadAdapters(t, e, comps...)

	reqs := mixedRequests(24, l.Model.Config.Vocab)
	dare := tiesSpec
	dare.Strategy, dare.Seed = lora.MergeDARELinear, 5
	for i := range reqs {
		switch i % 4 {
		case 0, 1:
			reqs[i].Merge = &MergedAdapters{IDs: comps, Spec: tiesSpec}
		case 2:
			reqs[i].Adapter = comps[i%2]
		case 3:
			if i%8 == 3 {
				reqs[i].Merge = &MergedAdapters{IDs: comps, Spec: dare}
			}
		}
	}
	got := runConcurrently(t, e, reqs)
	for i, r := range reqs {
		if r.Merge != nil && r.Merge.Spec.Strategy == lora.MergeDARELinear {
			continue
		}
		if r.Merge != nil {
			r.Merge, r.Adapter = nil, "ref-merged"
		}
		if want := ids(run(t, ref, r)); !slices.Equal(got[i], want) {
			t.Errorf("request %d (adapter %q): %v, reference %v", i, r.Adapter, got[i], want)
		}
	}
	var merged []string
	for _, a := range e.Adapters() {
		if strings.HasPrefix(a.ID, MergedPrefix) {
			merged = append(merged, a.ID)
		}
	}
	if len(merged) != 2 {
		t.Fatalf("merged adapters registered: %v, want one per spec", merged)
	}
	assertNoLeak(t, e)
}

// TestMergedAdapterFollowsContent: reloading a component under its name with
// other weights makes the next merge a new adapter, not the stale one.
func TestMergedAdapterFollowsContent(t *testing.T) {
	l := loadStories(t, "gguf")
	e := newEngine(t, l, Config{})
	loadAdapters(t, e, "qv-r4", "all-r8")
	req := Request{Prompt: forkPrompt(), Sampling: greedyParams(), MaxTokens: 6,
		Merge: &MergedAdapters{IDs: []string{"qv-r4", "all-r8"}, Spec: tiesSpec}}
	first := ids(run(t, e, req))
	if err := e.UnloadAdapter(t.Context(), "qv-r4", false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.LoadAdapter("qv-r4", adapterDir(t, "mlp-r16")); err != nil {
		t.Fatal(err)
	}
	second := ids(run(t, e, req))
	n := 0
	for _, a := range e.Adapters() {
		if strings.HasPrefix(a.ID, MergedPrefix) {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d merged adapters after a component changed, want 2 (first %v, second %v)", n, first, second)
	}
}

func TestMergedAdapterErrors(t *testing.T) {
	l := loadStories(t, "gguf")
	e := newEngine(t, l, Config{})
	loadAdapters(t, e, "qv-r4", "all-r8")
	two := []string{"qv-r4", "all-r8"}
	for param, m := range map[string]*MergedAdapters{
		"merged_adapters.ids":                  {IDs: []string{"qv-r4", "qv-r4"}, Spec: lora.MergeSpec{Weights: []float64{1, 1}, Strategy: "linear", Density: 1, MajoritySign: "total"}},
		"merged_adapters.weights":              {IDs: two, Spec: lora.MergeSpec{Weights: []float64{1}, Strategy: "linear", Density: 1, MajoritySign: "total"}},
		"merged_adapters.merge_strategy":       {IDs: two, Spec: lora.MergeSpec{Weights: []float64{1, 1}, Strategy: "cat", Density: 1, MajoritySign: "total"}},
		"merged_adapters.density":              {IDs: two, Spec: lora.MergeSpec{Weights: []float64{1, 1}, Strategy: "ties", Density: 1.5, MajoritySign: "total"}},
		"merged_adapters.majority_sign_method": {IDs: two, Spec: lora.MergeSpec{Weights: []float64{1, 1}, Strategy: "ties", Density: 1, MajoritySign: "x"}},
	} {
		_, err := e.Generate(t.Context(), Request{Prompt: []int32{1}, Sampling: greedyParams(), MaxTokens: 2, Merge: m})
		var re *RequestError
		if !errors.As(err, &re) || re.Param != param {
			t.Errorf("%s: %v", param, err)
		}
	}
	_, err := e.Generate(t.Context(), Request{Prompt: []int32{1}, Sampling: greedyParams(), MaxTokens: 2,
		Merge: &MergedAdapters{IDs: []string{"qv-r4", "nope"}, Spec: tiesSpec}})
	var re *RequestError
	if !errors.As(err, &re) || !re.NotFound || re.Param != "merged_adapters.ids" || !strings.Contains(re.Msg, `"nope"`) {
		t.Errorf("unknown component: %v", err)
	}
	if _, err := e.LoadAdapter(MergedPrefix+"x", adapterDir(t, "qv-r4")); err == nil {
		t.Error("LoadAdapter took an id of the merged namespace")
	}
	assertNoLeak(t, e)
}

// TestEvictedMergeIsMadeAgain: a merged adapter pushed out of host memory is
// forgotten (it has no directory to reread) and merged again, with the same
// tokens, by the next request that asks for it.
func TestEvictedMergeIsMadeAgain(t *testing.T) {
	l := loadStories(t, "gguf")
	e := newEngine(t, l, Config{MaxActiveAdapters: 1, MaxCachedAdapters: 1})
	loadAdapters(t, e, "qv-r4", "all-r8")
	req := Request{Prompt: forkPrompt(), Sampling: greedyParams(), MaxTokens: 8,
		Merge: &MergedAdapters{IDs: []string{"qv-r4", "all-r8"}, Spec: tiesSpec}}
	want := ids(run(t, e, req))
	merges := func() int {
		n := 0
		for _, a := range e.Adapters() {
			if a.Merged {
				n++
			}
		}
		return n
	}
	if merges() != 1 {
		t.Fatalf("%d merged adapters after a merged request", merges())
	}
	loadAdapters(t, e, "mlp-r16")
	run(t, e, Request{Prompt: forkPrompt(), Adapter: "mlp-r16", Sampling: greedyParams(), MaxTokens: 2}) // takes the one slot
	loadAdapters(t, e, "o-r2-rslora")                                                                    // evicts host copies
	if merges() != 0 {
		t.Fatalf("the evicted merge is still registered: %+v", e.Adapters())
	}
	if got := ids(run(t, e, req)); !slices.Equal(got, want) {
		t.Fatalf("merged again: %v, first %v", got, want)
	}
	assertNoLeak(t, e)
}
