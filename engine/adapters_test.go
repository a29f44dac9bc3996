package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graft-ai/graft/engine/safetensors"
	"github.com/graft-ai/graft/internal/testmodels"
)

var storyAdapters = []string{"qv-r4", "all-r8", "o-r2-rslora", "mlp-r16"}

func adapterDir(t testing.TB, name string) string {
	return testmodels.Path(t, "stories260K", "adapters", name)
}

func adapterRuns(t *testing.T) []referenceRun {
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
		if r.Adapter != nil {
			runs = append(runs, r)
		}
	}
	if len(runs) != 2*len(storyAdapters) {
		t.Fatalf("golden.json has %d adapter runs, want %d", len(runs), 2*len(storyAdapters))
	}
	return runs
}

func loadAdapters(t testing.TB, e *Engine, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := e.LoadAdapter(id, adapterDir(t, id)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAdapterGoldens: each adapter reproduces its reference runs exactly on the
// GGUF base (interleaved q/k rows) and the HF base.
func TestAdapterGoldens(t *testing.T) {
	for _, format := range []string{"gguf", "hf"} {
		l := loadStories(t, format)
		e := newEngine(t, l, Config{})
		loadAdapters(t, e, storyAdapters...)
		for _, r := range adapterRuns(t) {
			ev := run(t, e, Request{Prompt: r.PromptIDs, Adapter: *r.Adapter, Sampling: greedyParams(), MaxTokens: len(r.Greedy)})
			if got := ids(ev); !slices.Equal(got, r.Greedy) {
				t.Errorf("%s %s prompt %q: ids %v, want %v", format, *r.Adapter, r.Prompt, got, r.Greedy)
			}
			if ev.Text != r.Text {
				t.Errorf("%s %s prompt %q: text %q, want %q", format, *r.Adapter, r.Prompt, ev.Text, r.Text)
			}
		}
	}
}

// TestMixedAdapterBatchInvariance: base + all four adapters + repeats, mixed
// prompt lengths, in one batch give exactly the ids each gives alone.
func TestMixedAdapterBatchInvariance(t *testing.T) {
	l := loadStories(t, "gguf")
	reqs := mixedRequests(40, l.Model.Config.Vocab)
	for i := range reqs {
		if k := i % 5; k > 0 {
			reqs[i].Adapter = storyAdapters[k-1]
		}
	}
	alone := newEngine(t, l, Config{MaxNumSeqs: 1})
	loadAdapters(t, alone, storyAdapters...)
	batched := newEngine(t, l, Config{MaxNumSeqs: 40, MaxBatchedTokens: 128})
	loadAdapters(t, batched, storyAdapters...)
	got := runConcurrently(t, batched, reqs)
	for i, r := range reqs {
		if want := ids(run(t, alone, r)); !slices.Equal(got[i], want) {
			t.Errorf("request %d (adapter %q) batched gave %v, alone %v", i, r.Adapter, got[i], want)
		}
	}
	assertNoLeak(t, batched)
}

// TestAdapterEvictionUnderPressure: 50 adapters, 4 slots, a host cache of 6,
// 200 concurrent requests: all complete with the right outputs and no slot or
// KV block leaks.
func TestAdapterEvictionUnderPressure(t *testing.T) {
	l := loadStories(t, "gguf")
	ref := newEngine(t, l, Config{})
	loadAdapters(t, ref, storyAdapters...)
	e := newEngine(t, l, Config{MaxNumSeqs: 32, MaxActiveAdapters: 4, MaxCachedAdapters: 6})
	base := func(i int) string { return storyAdapters[i%len(storyAdapters)] }
	for i := range 50 {
		if _, err := e.LoadAdapter(fmt.Sprintf("ad%02d", i), adapterDir(t, base(i))); err != nil {
			t.Fatal(err)
		}
	}
	reqs := mixedRequests(200, l.Model.Config.Vocab)
	for i := range reqs {
		reqs[i].Adapter = fmt.Sprintf("ad%02d", i%50)
		reqs[i].MaxTokens = 4 + i%9
	}
	got := runConcurrently(t, e, reqs)
	want := map[string][]int32{} // the same underlying adapter and request give the same ids
	for i, r := range reqs {
		rr := r
		rr.Adapter = base(i % 50)
		key := fmt.Sprint(rr)
		if _, ok := want[key]; !ok {
			want[key] = ids(run(t, ref, rr))
		}
		if !slices.Equal(got[i], want[key]) {
			t.Errorf("request %d on %s: %v, want %v", i, r.Adapter, got[i], want[key])
		}
	}
	assertNoLeak(t, e)
	st := e.Stats()
	if st.AdapterSlotsUsed > 4 || st.AdapterSlots != 4 {
		t.Errorf("slots %d/%d", st.AdapterSlotsUsed, st.AdapterSlots)
	}
	// 50 adapters through 6 host places and 4 slots: every one was read and
	// slotted at least once, and some were read back after eviction.
	if st.AdapterLoads <= 50 || st.AdapterSlotLoads < 50 {
		t.Errorf("adapter loads %d (want > 50), slot loads %d (want >= 50)", st.AdapterLoads, st.AdapterSlotLoads)
	}
	var active, host int
	for _, a := range e.Adapters() {
		if a.Sequences != 0 {
			t.Errorf("adapter %s still counts %d sequences", a.ID, a.Sequences)
		}
		switch a.Tier {
		case TierActive:
			active++
		case TierHost:
			host++
		}
	}
	if active > 4 || host > 6 {
		t.Errorf("%d adapters active and %d in host memory; limits are 4 and 6", active, host)
	}
}

func TestUnloadAdapter(t *testing.T) {
	l := loadStories(t, "gguf")
	e := newEngine(t, l, Config{})
	loadAdapters(t, e, "qv-r4")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := e.Generate(ctx, Request{Prompt: []int32{1}, Adapter: "qv-r4", Sampling: greedyParams(), MaxTokens: 300, IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Next(ctx)
	if err := e.UnloadAdapter(ctx, "qv-r4", false); !errors.Is(err, ErrAdapterBusy) {
		t.Fatalf("unload of a busy adapter: %v, want ErrAdapterBusy", err)
	}
	done := make(chan error)
	go func() { done <- e.UnloadAdapter(context.Background(), "qv-r4", true) }()
	time.Sleep(20 * time.Millisecond)
	if _, err := e.Generate(ctx, Request{Prompt: []int32{1}, Adapter: "qv-r4", Sampling: greedyParams(), MaxTokens: 4}); err == nil {
		t.Fatal("a draining adapter accepted a new request")
	}
	ev := s.Collect(ctx) // the running sequence finishes unharmed
	if ev.Finish != FinishLength || len(ev.Tokens) != 299 {
		t.Fatalf("running sequence: finish %q after %d more tokens", ev.Finish, len(ev.Tokens))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(e.Adapters()) != 0 {
		t.Fatalf("adapters after unload: %v", e.Adapters())
	}
	_, err = e.Generate(ctx, Request{Prompt: []int32{1}, Adapter: "qv-r4", Sampling: greedyParams(), MaxTokens: 4})
	var re *RequestError
	if !errors.As(err, &re) || !re.NotFound {
		t.Fatalf("request for an unloaded adapter: %v, want a not-found RequestError", err)
	}
	assertNoLeak(t, e)
}

// writeAdapter copies a real adapter with its config changed or a tensor
// renamed/reshaped, for the rejection tests.
func writeAdapter(t *testing.T, src string, editCfg func(map[string]any), editTensors func([]safetensors.TensorData) []safetensors.TensorData) string {
	t.Helper()
	dir := t.TempDir()
	var cfg map[string]any
	data, _ := os.ReadFile(filepath.Join(src, "adapter_config.json"))
	json.Unmarshal(data, &cfg)
	if editCfg != nil {
		editCfg(cfg)
	}
	data, _ = json.Marshal(cfg)
	os.WriteFile(filepath.Join(dir, "adapter_config.json"), data, 0o644)
	st, err := safetensors.Open(filepath.Join(src, "adapter_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ts []safetensors.TensorData
	for _, tn := range st.Tensors() {
		v, shape, _ := st.Float32(tn.Name)
		ts = append(ts, safetensors.TensorData{Name: tn.Name, DType: "F32", Shape: shape, Data: slices.Clone(v)})
	}
	if editTensors != nil {
		ts = editTensors(ts)
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "adapter_model.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBadAdaptersAreRejectedByName(t *testing.T) {
	l := loadStories(t, "gguf")
	e := newEngine(t, l, Config{MaxLoRARank: 8})
	src := adapterDir(t, "qv-r4")
	rename := func(from, to string) func([]safetensors.TensorData) []safetensors.TensorData {
		return func(ts []safetensors.TensorData) []safetensors.TensorData {
			ts[0].Name = strings.Replace(ts[0].Name, from, to, 1)
			return ts
		}
	}
	cases := map[string]struct {
		dir  string
		want string
	}{
		"dora":            {writeAdapter(t, src, func(c map[string]any) { c["use_dora"] = true }, nil), "DoRA"},
		"modules_to_save": {writeAdapter(t, src, func(c map[string]any) { c["modules_to_save"] = []string{"lm_head"} }, nil), "modules_to_save"},
		"embedding lora":  {writeAdapter(t, src, nil, rename("self_attn.q_proj.lora_A.weight", "embed_tokens.lora_embedding_A")), "embedding"},
		"untargeted":      {writeAdapter(t, src, func(c map[string]any) { c["target_modules"] = []string{"v_proj"} }, nil), "target_modules"},
		"rank too high":   {adapterDir(t, "mlp-r16"), "maximum adapter rank"},
		"wrong base": {writeAdapter(t, src, nil, func(ts []safetensors.TensorData) []safetensors.TensorData {
			ts[0].Shape, ts[0].Data = []int{4, 32}, ts[0].Data[:128]
			return ts
		}), "does not fit"},
		"layer past the model": {writeAdapter(t, src, nil, rename("layers.0.", "layers.9.")), "layer 9"},
		"missing dir":          {filepath.Join(t.TempDir(), "nope"), "adapter_config.json is missing"},
	}
	for name, c := range cases {
		_, err := e.LoadAdapter(name, c.dir)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", name, err, c.want)
		}
	}
	trunc := writeAdapter(t, src, nil, nil)
	p := filepath.Join(trunc, "adapter_model.safetensors")
	data, _ := os.ReadFile(p)
	os.WriteFile(p, data[:len(data)-100], 0o644)
	if _, err := e.LoadAdapter("truncated", trunc); err == nil {
		t.Error("a truncated adapter file was accepted")
	}
	if len(e.Adapters()) != 0 {
		t.Errorf("rejected adapters were registered: %v", e.Adapters())
	}
}

// TestAdapterLoadCounters: a load reads the files once, the first request
// copies the adapter into a slot, and later requests reuse the slot.
func TestAdapterLoadCounters(t *testing.T) {
	l := loadStories(t, "gguf")
	e := newEngine(t, l, Config{})
	loadAdapters(t, e, "qv-r4")
	if st := e.Stats(); st.AdapterLoads != 1 || st.AdapterSlotLoads != 0 {
		t.Fatalf("after a load: %d loads, %d slot loads", st.AdapterLoads, st.AdapterSlotLoads)
	}
	for range 3 {
		run(t, e, Request{Prompt: []int32{1}, Adapter: "qv-r4", Sampling: greedyParams(), MaxTokens: 2})
	}
	if st := e.Stats(); st.AdapterLoads != 1 || st.AdapterSlotLoads != 1 {
		t.Fatalf("after three requests: %d loads, %d slot loads; want 1 and 1", st.AdapterLoads, st.AdapterSlotLoads)
	}
}
