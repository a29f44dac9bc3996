package replica

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

func TestSnapshotSortsAdaptersByWhatTheyDo(t *testing.T) {
	st := &enginev1.StatsResponse{RunningSequences: 3, QueueDepth: 2, KvBlocksUsed: 1, KvBlocksTotal: 4,
		AdapterSlotsTotal: 4, ModelId: "engine-id", PrefixCacheQueriesTotal: 120, PrefixCacheHitsTotal: 48}
	la := &enginev1.ListAdaptersResponse{Adapters: []*enginev1.AdapterInfo{
		{AdapterId: "c", RunningSequences: 1}, {AdapterId: "b", WaitingSequences: 2},
		{AdapterId: "a", RunningSequences: 2, WaitingSequences: 1}, {AdapterId: "idle"},
		{AdapterId: "merged:0f", Merged: true, RunningSequences: 1}}}
	s := newSnapshot(st, la, "", time.Unix(1700000000, 0))
	if s.model != "engine-id" || s.kvUse != 0.25 {
		t.Errorf("model %q kv %v: want the engine's id and 0.25 from the blocks", s.model, s.kvUse)
	}
	for name, got := range map[string][]string{"loaded": s.loaded, "running": s.runningAdapters, "waiting": s.waitingAdapters} {
		// A merge runs like an adapter but is no adapter to route by.
		want := map[string][]string{"loaded": {"a", "b", "c", "idle"}, "running": {"a", "c", "merged:0f"}, "waiting": {"a", "b"}}[name]
		if !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	st.KvCacheUsage = 0.5 // the engine's own fraction wins over the blocks
	if s := newSnapshot(st, la, "served", time.Now()); s.kvUse != 0.5 || s.model != "served" {
		t.Errorf("kv %v model %q, want 0.5 and the served name", s.kvUse, s.model)
	}

	reg := prometheus.NewRegistry()
	c := &collector{}
	reg.MustRegister(c)
	if got := scrape(t, reg); len(got) != 0 {
		t.Fatalf("gauges before any poll: %q", got)
	}
	c.set(&s)
	want := []string{
		`vllm:kv_cache_usage_perc{model_name="engine-id"} 0.25`,
		`vllm:lora_requests_info{max_lora="4",running_lora_adapters="a,c,merged:0f",waiting_lora_adapters="a,b"} 1.7e+09`,
		`vllm:num_requests_running{model_name="engine-id"} 3`,
		`vllm:num_requests_waiting{model_name="engine-id"} 2`,
		`vllm:prefix_cache_hits_total{model_name="engine-id"} 48`,
		`vllm:prefix_cache_queries_total{model_name="engine-id"} 120`,
	}
	if got := scrape(t, reg); !slices.Equal(got, want) {
		t.Fatalf("scrape:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestMetricsFromARealEngine polls a real engine with no Redis configured.
func TestMetricsFromARealEngine(t *testing.T) {
	e := startEngine(t)
	reg := prometheus.NewRegistry()
	r := startReporter(t, Config{Engine: e.client, Registerer: reg, Interval: 50 * time.Millisecond,
		ModelName: func() string { return "my-model" }})
	loadAdapter(t, e.client, "qv-r4")
	r.Refresh()
	eventually(t, "the engine's idle load on /metrics", func() bool {
		got := scrape(t, reg)
		return len(got) == 6 &&
			got[0] == `vllm:kv_cache_usage_perc{model_name="my-model"} 0` &&
			strings.HasPrefix(got[1], `vllm:lora_requests_info{max_lora="`) &&
			strings.Contains(got[1], `running_lora_adapters="",waiting_lora_adapters=""}`) &&
			got[2] == `vllm:num_requests_running{model_name="my-model"} 0` &&
			got[3] == `vllm:num_requests_waiting{model_name="my-model"} 0` &&
			got[4] == `vllm:prefix_cache_hits_total{model_name="my-model"} 0` &&
			got[5] == `vllm:prefix_cache_queries_total{model_name="my-model"} 0`
	})
	// The same 40-token prompt twice: the second finds two 16-token blocks cached.
	prompt := make([]int32, 40)
	for i := range prompt {
		prompt[i] = int32(5 + i)
	}
	for range 2 {
		generate(t, e.client, prompt)
	}
	r.Refresh()
	eventually(t, "the prefix cache counters on /metrics", func() bool {
		got := scrape(t, reg)
		return len(got) == 6 && got[4] == `vllm:prefix_cache_hits_total{model_name="my-model"} 32` &&
			got[5] == `vllm:prefix_cache_queries_total{model_name="my-model"} 80`
	})
	r.Stop()
	if got := scrape(t, reg); len(got) != 0 {
		t.Fatalf("gauges after Stop: %q", got)
	}
	// Stop unregistered them, so a new reporter can take the registry.
	startReporter(t, Config{Engine: e.client, Registerer: reg})
}

func TestEngineThatStopsAnsweringLeavesMetrics(t *testing.T) {
	e := startEngine(t)
	reg := prometheus.NewRegistry()
	startReporter(t, Config{Engine: e.client, Registerer: reg, Interval: 50 * time.Millisecond})
	eventually(t, "gauges", func() bool { return len(scrape(t, reg)) == 6 })
	e.stop()
	eventually(t, "gauges to go with the engine", func() bool { return len(scrape(t, reg)) == 0 })
}

// generate runs a greedy request of three tokens to its end.
func generate(t *testing.T, ec enginev1.EngineClient, prompt []int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	st, err := ec.Generate(ctx, &enginev1.GenerateRequest{
		Prompt:   &enginev1.GenerateRequest_TokenIds{TokenIds: &enginev1.TokenIds{Ids: prompt}},
		Sampling: &enginev1.SamplingParams{MaxTokens: 3}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := st.Recv(); err == io.EOF {
			return
		} else if err != nil {
			t.Fatal(err)
		}
	}
}
