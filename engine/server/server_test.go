package server

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/internal/testengine"
	"github.com/graft-ai/graft/internal/testmodels"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

type harness struct {
	eng    *engine.Engine
	conn   *grpc.ClientConn
	client enginev1.EngineClient
	stop   context.CancelFunc
	done   chan error
}

// start serves stories260K on a fresh unix socket and dials it with grpc-go.
func start(t *testing.T, drain time.Duration) *harness {
	t.Helper()
	eng := testengine.Stories(t, engine.Config{MaxNumSeqs: 8})
	addr := "unix://" + filepath.Join(t.TempDir(), "engine.sock")
	lis, err := Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := New(eng, "stories260K")
	g := grpc.NewServer()
	srv.Register(g)
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{eng: eng, stop: cancel, done: make(chan error, 1)}
	go func() { h.done <- srv.Serve(ctx, g, lis, drain) }()
	t.Cleanup(func() { cancel(); <-h.done })
	h.conn, err = grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.conn.Close() })
	h.client = enginev1.NewEngineClient(h.conn)
	return h
}

func greedyIDs(t *testing.T) []int32 {
	data, err := os.ReadFile(testmodels.Path(t, "stories260K", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Upstream struct {
			Greedy struct{ IDs []int32 } `json:"greedy"`
		} `json:"upstream"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return g.Upstream.Greedy.IDs
}

// collect reads a Generate stream to its end.
func collect(t *testing.T, s grpc.ServerStreamingClient[enginev1.GenerateResponse]) (ids []int32, text string, last *enginev1.GenerateResponse, first *enginev1.GenerateResponse) {
	t.Helper()
	for {
		m, err := s.Recv()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = m
		}
		for _, tok := range m.Tokens {
			ids = append(ids, tok.TokenId)
		}
		text += m.TextDelta
		last = m
	}
}

func TestGreedyFromBOSMatchesUpstream(t *testing.T) {
	h := start(t, time.Minute)
	want := greedyIDs(t)[:64]
	s, err := h.client.Generate(context.Background(), &enginev1.GenerateRequest{
		Prompt:   &enginev1.GenerateRequest_TokenIds{TokenIds: &enginev1.TokenIds{Ids: []int32{1}}},
		Sampling: &enginev1.SamplingParams{MaxTokens: 64},
	})
	if err != nil {
		t.Fatal(err)
	}
	ids, text, last, first := collect(t, s)
	if !slices.Equal(ids, want) {
		t.Fatalf("greedy ids\n got %v\nwant %v", ids, want)
	}
	if !slices.Equal(first.PromptTokenIds, []int32{1}) {
		t.Errorf("first message prompt_token_ids = %v, want [1]", first.PromptTokenIds)
	}
	if last.FinishReason != enginev1.FinishReason_FINISH_REASON_LENGTH || last.Usage.GetPromptTokens() != 1 || last.Usage.GetCompletionTokens() != 64 {
		t.Errorf("last message: finish %v usage %v", last.FinishReason, last.Usage)
	}
	dec, err := h.client.Detokenize(context.Background(), &enginev1.DetokenizeRequest{Ids: ids, SkipSpecialTokens: true})
	if err != nil {
		t.Fatal(err)
	}
	if text != dec.Text || !strings.HasPrefix(text, "Once upon a time") {
		t.Errorf("streamed text %q, detokenized %q", text, dec.Text)
	}
}

func TestTextPromptAndLogprobs(t *testing.T) {
	h := start(t, time.Minute)
	ctx := context.Background()
	tok, err := h.client.Tokenize(ctx, &enginev1.TokenizeRequest{Text: "Once upon a time"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Ids[0] != 1 || len(tok.Tokens) != len(tok.Ids) {
		t.Fatalf("Tokenize = %v %q, want BOS first and one piece per id", tok.Ids, tok.Tokens)
	}
	s, err := h.client.Generate(ctx, &enginev1.GenerateRequest{
		Prompt:   &enginev1.GenerateRequest_Text{Text: "Once upon a time"},
		Sampling: &enginev1.SamplingParams{MaxTokens: 8, Logprobs: true, TopLogprobs: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	first := true
	for {
		m, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if first && !slices.Equal(m.PromptTokenIds, tok.Ids) {
			t.Errorf("prompt_token_ids %v, Tokenize gave %v", m.PromptTokenIds, tok.Ids)
		}
		first = false
		for _, g := range m.Tokens {
			n++
			// Greedy: the chosen token is the most likely one.
			if len(g.TopLogprobs) != 3 || g.TopLogprobs[0].TokenId != g.TokenId || g.TopLogprobs[0].Logprob != g.Logprob || g.Logprob > 0 {
				t.Errorf("token %d: logprob %v top %v", g.TokenId, g.Logprob, g.TopLogprobs)
			}
			if g.TopLogprobs[0].Token == "" {
				t.Errorf("token %d has no text", g.TokenId)
			}
		}
	}
	if n != 8 {
		t.Errorf("%d tokens, want 8", n)
	}
}

func TestCancelFreesBlocks(t *testing.T) {
	h := start(t, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := h.client.Generate(ctx, &enginev1.GenerateRequest{
		Prompt:   &enginev1.GenerateRequest_TokenIds{TokenIds: &enginev1.TokenIds{Ids: []int32{1}}},
		Sampling: &enginev1.SamplingParams{MaxTokens: 1500, IgnoreEos: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	st, err := h.client.Stats(context.Background(), &enginev1.StatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.KvBlocksUsed == 0 || st.ModelId != "stories260K" || st.MaxModelLen != 2048 {
		t.Errorf("while running: %v", st)
	}
	cancel()
	waitIdle(t, h.client)
}

// waitIdle polls Stats until nothing runs and no block is held; the engine frees a
// cancelled sequence on its next step, which a poll cannot predict.
func waitIdle(t *testing.T, c enginev1.EngineClient) {
	t.Helper()
	for {
		st, err := c.Stats(context.Background(), &enginev1.StatsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if st.RunningSequences == 0 && st.QueueDepth == 0 && st.KvBlocksUsed == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBadRequestsNameTheParam(t *testing.T) {
	h := start(t, time.Minute)
	long := make([]int32, 2048)
	for i := range long {
		long[i] = 1
	}
	ids := func(x []int32) *enginev1.GenerateRequest_TokenIds {
		return &enginev1.GenerateRequest_TokenIds{TokenIds: &enginev1.TokenIds{Ids: x}}
	}
	cases := []struct {
		param string
		req   *enginev1.GenerateRequest
	}{
		{"sampling.temperature", &enginev1.GenerateRequest{Prompt: ids([]int32{1}), Sampling: &enginev1.SamplingParams{Temperature: -1}}},
		{"sampling.top_p", &enginev1.GenerateRequest{Prompt: ids([]int32{1}), Sampling: &enginev1.SamplingParams{TopP: 1.5}}},
		{"sampling.top_logprobs", &enginev1.GenerateRequest{Prompt: ids([]int32{1}), Sampling: &enginev1.SamplingParams{Logprobs: true, TopLogprobs: 21}}},
		{"sampling.presence_penalty", &enginev1.GenerateRequest{Prompt: ids([]int32{1}), Sampling: &enginev1.SamplingParams{PresencePenalty: 3}}},
		{"sampling.max_tokens", &enginev1.GenerateRequest{Prompt: ids([]int32{1}), Sampling: &enginev1.SamplingParams{MaxTokens: 5000}}},
		{"prompt.token_ids", &enginev1.GenerateRequest{Prompt: ids(long)}},
		{"prompt.token_ids", &enginev1.GenerateRequest{Prompt: ids([]int32{9999})}},
		{"prompt", &enginev1.GenerateRequest{}},
		{"merged_adapters.density", &enginev1.GenerateRequest{Prompt: ids([]int32{1}),
			MergedAdapters: &enginev1.MergedAdapters{Ids: []string{"a", "b"}, Density: new(2.0)}}},
		{"merged_adapters.merge_strategy", &enginev1.GenerateRequest{Prompt: ids([]int32{1}),
			MergedAdapters: &enginev1.MergedAdapters{Ids: []string{"a", "b"}, MergeStrategy: "svd"}}},
		{"merged_adapters.weights", &enginev1.GenerateRequest{Prompt: ids([]int32{1}),
			MergedAdapters: &enginev1.MergedAdapters{Ids: []string{"a", "b"}, Weights: []float64{1}}}},
		{"merged_adapters.ids", &enginev1.GenerateRequest{Prompt: ids([]int32{1}),
			MergedAdapters: &enginev1.MergedAdapters{}}},
	}
	for _, c := range cases {
		s, err := h.client.Generate(context.Background(), c.req)
		if err == nil {
			_, err = s.Recv()
		}
		if status.Code(err) != codes.InvalidArgument || Param(err) != c.param || !strings.Contains(err.Error(), c.param) {
			t.Errorf("want InvalidArgument naming %s, got %v (param %q)", c.param, err, Param(err))
		}
	}
}

func TestHealthServing(t *testing.T) {
	h := start(t, time.Minute)
	hc := healthpb.NewHealthClient(h.conn)
	for _, svc := range []string{"", ServiceName} {
		r, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q = %v", svc, r.Status)
		}
	}
}

func TestGracefulStopDrainsRunningStream(t *testing.T) {
	h := start(t, 5*time.Minute)
	s, err := h.client.Generate(context.Background(), &enginev1.GenerateRequest{
		Prompt:   &enginev1.GenerateRequest_TokenIds{TokenIds: &enginev1.TokenIds{Ids: []int32{1}}},
		Sampling: &enginev1.SamplingParams{MaxTokens: 1500, IgnoreEos: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	// The stream must still be running when the stop begins, or this would
	// not test draining at all.
	st, err := h.client.Stats(context.Background(), &enginev1.StatsRequest{})
	if err != nil || st.RunningSequences != 1 {
		t.Fatalf("before stop: %v running, %v", st.GetRunningSequences(), err)
	}
	h.stop()
	ids, _, last, _ := collect(t, s)
	if n := len(first.Tokens) + len(ids); n != 1500 || last.FinishReason != enginev1.FinishReason_FINISH_REASON_LENGTH {
		t.Fatalf("drained stream got %d tokens, finish %v", n, last.FinishReason)
	}
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
	h.done <- nil
	_, err = h.client.Stats(context.Background(), &enginev1.StatsRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("after shutdown Stats = %v, want Unavailable", err)
	}
}

func TestListenRefusesLiveSocket(t *testing.T) {
	addr := "unix://" + filepath.Join(t.TempDir(), "x.sock")
	lis, err := Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if _, err := Listen(addr); err == nil {
		t.Fatal("second Listen on a live socket succeeded")
	}
}

// TestNSequencesStreamWithIndex: n=3 is one stream whose messages name their
// sequence; each sequence's first message carries the prompt ids, each ends
// with its own usage, and Stats counts the prompt prefilled once.
func TestNSequencesStreamWithIndex(t *testing.T) {
	h := start(t, time.Minute)
	prompt := []int32{1, 403, 407, 261, 378, 1, 403, 407, 261, 378, 1, 403, 407, 261, 378, 1, 403, 407, 261, 378}
	seed := uint64(11)
	before, err := h.client.Stats(context.Background(), &enginev1.StatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := h.client.Generate(context.Background(), &enginev1.GenerateRequest{
		Prompt:   &enginev1.GenerateRequest_TokenIds{TokenIds: &enginev1.TokenIds{Ids: prompt}},
		Sampling: &enginev1.SamplingParams{MaxTokens: 12, Temperature: 1, Seed: &seed, IgnoreEos: true}, N: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	tokens, firsts, ends := make([]int, 3), make([]int, 3), make([]int, 3)
	for {
		msg, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		i := msg.Index
		if len(msg.PromptTokenIds) > 0 {
			if firsts[i]++; tokens[i] != 0 || !slices.Equal(msg.PromptTokenIds, prompt) {
				t.Fatalf("sequence %d: prompt ids %v after %d tokens", i, msg.PromptTokenIds, tokens[i])
			}
		}
		tokens[i] += len(msg.Tokens)
		if msg.FinishReason != enginev1.FinishReason_FINISH_REASON_UNSPECIFIED {
			ends[i]++
			if msg.Usage.GetCompletionTokens() != 12 || msg.Usage.GetPromptTokens() != uint32(len(prompt)) {
				t.Errorf("sequence %d usage %v", i, msg.Usage)
			}
		}
	}
	for i := range 3 {
		if tokens[i] != 12 || firsts[i] != 1 || ends[i] != 1 {
			t.Errorf("sequence %d: %d tokens, %d prompt messages, %d ends; want 12, 1, 1", i, tokens[i], firsts[i], ends[i])
		}
	}
	after, err := h.client.Stats(context.Background(), &enginev1.StatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := after.PrefillTokensTotal - before.PrefillTokensTotal; got != uint64(len(prompt)) {
		t.Errorf("prefill grew by %d, want %d", got, len(prompt))
	}
	if got := after.GenerationTokensTotal - before.GenerationTokensTotal; got != 36 {
		t.Errorf("generation grew by %d, want 36", got)
	}
	if after.MaxQueued != 256 || after.KvCacheUsage < 0 || after.KvCacheUsage > 1 {
		t.Errorf("max_queued %d, kv_cache_usage %v", after.MaxQueued, after.KvCacheUsage)
	}
}
