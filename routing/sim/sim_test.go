package sim

import (
	"reflect"
	"testing"
)

func testConfig(t *testing.T, replicas, adapters int, load float64) Config {
	t.Helper()
	svc, err := LoadService("")
	if err != nil {
		t.Fatal(err)
	}
	l, err := LoadLengths("")
	if err != nil {
		t.Fatal(err)
	}
	return Config{Replicas: replicas, Adapters: adapters, ZipfS: 1.1, DriftEvery: 60, DriftTop: 50, DriftFrac: 0.2,
		Load: load, Duration: 1200, Warmup: 200, Seed: 7, Service: svc, Lengths: l}
}

func mustRun(t *testing.T, c Config, policy string) Result {
	t.Helper()
	p, err := ParsePolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(c, p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestLightLoadServesEverything: well under capacity every policy finishes
// every request and completes about what was offered.
func TestLightLoadServesEverything(t *testing.T) {
	c := testConfig(t, 10, 200, 0.4)
	// Chat-trace requests are slow (~1k-token prompts): a longer run, so
	// the Poisson count of arrivals is close to its mean.
	c.Duration = 4000
	for _, p := range []string{"rr", "least", "gie", "graft"} {
		r := mustRun(t, c, p)
		if r.Unfinished != 0 || r.Requests == 0 {
			t.Fatalf("%s: %d of %d unfinished", p, r.Unfinished, r.Requests)
		}
		if r.Throughput < 0.85*r.Rate || r.Throughput > 1.15*r.Rate {
			t.Errorf("%s: throughput %.3f/s for %.3f/s offered", p, r.Throughput, r.Rate)
		}
		if r.TTFT50 <= 0 || r.TTFT99 < r.TTFT50 || r.E2E50 < r.TTFT50 || r.Imbalance < 1 {
			t.Errorf("%s: inconsistent figures %+v", p, r)
		}
	}
}

// TestAffinityCutsLoads: 500 adapters over 10 replicas is more than one
// replica's host cache (64) holds but about what its share is; hashing
// adapters to replicas fetches far fewer from the store than round robin,
// which sends every adapter everywhere.
func TestAffinityCutsLoads(t *testing.T) {
	c := testConfig(t, 10, 500, 0.5)
	c.Duration = 4000
	rr, g := mustRun(t, c, "rr"), mustRun(t, c, "graft")
	if g.RemoteLoadsPer1k >= 0.6*rr.RemoteLoadsPer1k {
		t.Fatalf("remote loads per 1000: graft %.0f, round robin %.0f", g.RemoteLoadsPer1k, rr.RemoteLoadsPer1k)
	}
}

// TestDeterministic: one seed, one outcome, whatever the policy's state.
func TestDeterministic(t *testing.T) {
	c := testConfig(t, 5, 100, 0.7)
	c.Bursty, c.MeanOn, c.MeanOff = true, 20, 20
	a, b := mustRun(t, c, "gie"), mustRun(t, c, "gie")
	a.Wall, b.Wall = 0, 0
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("two runs differ:\n%+v\n%+v", a, b)
	}
}

func TestParsePolicyRejects(t *testing.T) {
	for _, s := range []string{"", "random", "graft:0", "gie:1,1,1,0", "graft:x", "least:-1"} {
		if _, err := ParsePolicy(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}

// TestNoRequestLeftBehind: with slow loads a replica can go idle while a
// load another request started is still running; it must wake when that
// load ends, or its queue waits for the next arrival (forever in the
// drain). Every request finishes.
func TestNoRequestLeftBehind(t *testing.T) {
	c := testConfig(t, 20, 5000, 0.7)
	c.Service.LoadRemote, c.Service.LoadHost = 2, 0.05
	c.Duration = 2400
	for _, p := range []string{"rr", "gie", "graft"} {
		if r := mustRun(t, c, p); r.Unfinished != 0 {
			t.Errorf("%s: %d of %d requests never finished", p, r.Unfinished, r.Requests)
		}
	}
}

// TestStreamIsTheSimulatorsTraffic: the stream that drives a real fleet
// yields the requests a simulation of the same config serves.
func TestStreamIsTheSimulatorsTraffic(t *testing.T) {
	c := testConfig(t, 3, 64, 0.5)
	c.DriftEvery, c.Duration, c.Warmup = 0, 300, 0
	s := NewStream(c)
	var want []Arrival
	for {
		a := s.Next()
		if a.At >= c.Duration {
			break
		}
		want = append(want, a)
	}
	p, _ := ParsePolicy("graft")
	r, err := simulate(c, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.reqs) != len(want) {
		t.Fatalf("simulation served %d requests, the stream made %d", len(r.reqs), len(want))
	}
	for i, q := range r.reqs {
		if got := (Arrival{At: q.arrive, Adapter: q.adapter, Prompt: q.prompt, Output: q.output}); got != want[i] {
			t.Fatalf("request %d: simulated %+v, streamed %+v", i, got, want[i])
		}
	}
}

// TestReplayEqualsGenerated: replaying the stream's requests simulates
// exactly what generating them does.
func TestReplayEqualsGenerated(t *testing.T) {
	c := testConfig(t, 3, 64, 0.6)
	c.DriftEvery, c.Duration, c.Warmup = 0, 600, 0
	s := NewStream(c)
	var rp []Arrival
	for a := s.Next(); a.At < c.Duration; a = s.Next() {
		rp = append(rp, a)
	}
	p1, _ := ParsePolicy("graft")
	p2, _ := ParsePolicy("graft")
	gen, err := Run(c, p1)
	if err != nil {
		t.Fatal(err)
	}
	c.Replay = rp
	rep, err := Run(c, p2)
	if err != nil {
		t.Fatal(err)
	}
	gen.Wall, rep.Wall = 0, 0
	if !reflect.DeepEqual(gen, rep) {
		t.Fatalf("generated %+v\nreplayed  %+v", gen, rep)
	}
}

// TestWarmStart: a replica that starts with an adapter in a slot serves it
// without a load; one with it in host memory loads it into a slot without a
// read from the store; a cold one does both.
func TestWarmStart(t *testing.T) {
	c := testConfig(t, 1, 10, 0.5)
	c.DriftEvery, c.Warmup, c.Duration = 0, 0, 100
	c.Replay = []Arrival{{At: 1, Adapter: 3, Prompt: 10, Output: 5}, {At: 50, Adapter: 3, Prompt: 10, Output: 5}}
	for _, tc := range []struct {
		name          string
		warm          []Resident
		loads, remote float64 // per 1000 requests
	}{
		{"cold", nil, 500, 500},
		{"host", []Resident{{Host: []int{3}}}, 500, 0},
		{"slot", []Resident{{Slots: []int{1, 3}, Host: []int{2}}}, 0, 0},
	} {
		c.Warm = tc.warm
		r := mustRun(t, c, "rr")
		if r.Requests != 2 || r.LoadsPer1k != tc.loads || r.RemoteLoadsPer1k != tc.remote {
			t.Errorf("%s: %d requests, %.0f loads and %.0f remote per 1000, want %.0f and %.0f",
				tc.name, r.Requests, r.LoadsPer1k, r.RemoteLoadsPer1k, tc.loads, tc.remote)
		}
	}
}

// TestNoLoadWithoutRoom: a request the KV cache cannot hold yet starts no
// adapter load; otherwise a request that fits takes that slot back before
// it is used and the adapter loads twice.
func TestNoLoadWithoutRoom(t *testing.T) {
	c := testConfig(t, 1, 3, 0.5)
	c.DriftEvery, c.Warmup, c.Duration = 0, 0, 100
	c.Service.Slots, c.Service.KVTokens = 2, 100
	c.Replay = []Arrival{
		{At: 0.5, Adapter: 0, Prompt: 50, Output: 40},
		{At: 0.6, Adapter: 1, Prompt: 50, Output: 40}, // waits for the first's KV
		{At: 0.7, Adapter: 2, Prompt: 5, Output: 5},   // fits beside it
	}
	r := mustRun(t, c, "rr")
	if r.Requests != 3 || r.Unfinished != 0 || r.LoadsPer1k != 1000 {
		t.Fatalf("%d unfinished, %.0f loads per 1000 requests, want 1000 (one each)", r.Unfinished, r.LoadsPer1k)
	}
}

// TestChunkedPrefill: with a step budget a long prompt is computed in
// chunks, its first token in the step that ends it, and a request decoding
// beside it gets its next token after a chunk, not after the whole prompt.
func TestChunkedPrefill(t *testing.T) {
	c := testConfig(t, 1, 1, 0.5)
	c.DriftEvery, c.Warmup, c.Duration = 0, 0, 100
	s := &c.Service
	s.LoadRemote, s.MaxBatchedTokens = 0, 0
	c.Replay = []Arrival{{At: 0.5, Adapter: 0, Prompt: 1000, Output: 3}}
	whole := mustRun(t, c, "rr")
	if want := s.step(1, 1, 1000); !near(whole.TTFT50, want) {
		t.Errorf("whole prompt: first token after %.4fs, want one step of %.4fs", whole.TTFT50, want)
	}
	s.MaxBatchedTokens = 400
	chunked := mustRun(t, c, "rr")
	if want := s.step(1, 1, 400)*2 + s.step(1, 1, 200); !near(chunked.TTFT50, want) {
		t.Errorf("chunked: first token after %.4fs, want steps of 400, 400 and 200 tokens, %.4fs", chunked.TTFT50, want)
	}
	// A two-token request: its first token comes alone, its second beside
	// the long prompt's first chunk (the budget less its own decode token).
	c.Replay = []Arrival{{At: 0.5, Adapter: 0, Prompt: 1, Output: 2}, {At: 0.51, Adapter: 0, Prompt: 1000, Output: 3}}
	r, err := simulate(c, mustPolicy(t, "rr"))
	if err != nil {
		t.Fatal(err)
	}
	short := r.reqs[0]
	if want := s.step(1, 1, 1) + s.step(2, 1, 399); !near(short.end-short.arrive, want) {
		t.Errorf("short request took %.4fs beside a chunked prompt, want %.4fs", short.end-short.arrive, want)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func mustPolicy(t *testing.T, s string) Policy {
	t.Helper()
	p, err := ParsePolicy(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
