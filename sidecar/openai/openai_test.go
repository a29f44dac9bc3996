package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/server"
	"github.com/graft-ai/graft/internal/testengine"
	"github.com/graft-ai/graft/internal/testmodels"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
	"github.com/graft-ai/graft/sidecar/adaptersource"
)

type pod struct {
	url    string
	engine enginev1.EngineClient
	// calls counts the engine RPCs the sidecar made, by method name.
	calls *rpcCounter
	// stopEngine stops the engine's gRPC server at once, as if the engine
	// process died; startEngine serves the same socket again.
	stopEngine, startEngine func()
}

// startPod runs stories260K behind a real gRPC server on a unix socket and the
// sidecar on a real HTTP listener talking to it.
func startPod(t *testing.T) *pod {
	t.Helper()
	return startPodWith(t, Config{})
}

// startPodWith is startPod with cfg's fields beyond the engine and adapters.
func startPodWith(t *testing.T, cfg Config) *pod {
	t.Helper()
	eng := testengine.Stories(t, engine.Config{MaxNumSeqs: 8})
	addr := "unix://" + filepath.Join(t.TempDir(), "engine.sock")
	calls := &rpcCounter{n: map[string]int{}}
	serve := func() func() {
		lis, err := server.Listen(addr)
		if err != nil {
			t.Fatal(err)
		}
		g := grpc.NewServer(grpc.ChainUnaryInterceptor(calls.unary), grpc.ChainStreamInterceptor(calls.stream))
		srv := server.New(eng, "stories260K")
		srv.Register(g)
		go func() { _ = g.Serve(lis) }()
		return g.Stop
	}
	kill := serve()
	t.Cleanup(func() { kill() })
	conn := dial(t, addr)
	cat, err := adaptersource.OpenCatalog(context.Background(), t.TempDir(), testmodels.Path(t, "stories260K", "adapters"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Engine, cfg.Adapters = conn, cat
	hs := httptest.NewServer(New(cfg))
	t.Cleanup(hs.Close)
	return &pod{url: hs.URL, engine: enginev1.NewEngineClient(conn), calls: calls,
		stopEngine: func() { kill() }, startEngine: func() { kill = serve() }}
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func post(t *testing.T, url, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

// ok posts body and decodes a 200 response into v.
func ok(t *testing.T, url, body string, v any) {
	t.Helper()
	resp, data := post(t, url, body)
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s %s: %d %s", url, body, resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
}

type completion struct {
	ID, Object, Model string
	Created           int64
	Choices           []struct {
		Index        int
		Text         string
		FinishReason *string `json:"finish_reason"`
		Message      struct{ Role, Content string }
		Delta        struct {
			Role    string
			Content *string
		}
		Logprobs json.RawMessage
	}
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
		Details          struct {
			CachedTokens int `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	}
}

func goldenText(t *testing.T, p *pod, n int) string {
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
	r, err := p.engine.Detokenize(context.Background(), &enginev1.DetokenizeRequest{Ids: g.Upstream.Greedy.IDs[:n], SkipSpecialTokens: true})
	if err != nil {
		t.Fatal(err)
	}
	return r.Text
}

func TestCompletionGreedyMatchesUpstream(t *testing.T) {
	p := startPod(t)
	var c completion
	ok(t, p.url+"/v1/completions", `{"model":"stories260K","prompt":[1],"max_tokens":64,"temperature":0}`, &c)
	if want := goldenText(t, p, 64); len(c.Choices) != 1 || c.Choices[0].Text != want {
		t.Fatalf("text %q, want %q", c.Choices[0].Text, want)
	}
	if !strings.HasPrefix(c.ID, "cmpl-") || c.Object != "text_completion" || c.Model != "stories260K" || c.Created == 0 {
		t.Errorf("envelope %q %q %q %d", c.ID, c.Object, c.Model, c.Created)
	}
	if u := c.Usage; u.PromptTokens != 1 || u.CompletionTokens != 64 || u.TotalTokens != 65 || *c.Choices[0].FinishReason != "length" {
		t.Errorf("usage %+v finish %s", *u, *c.Choices[0].FinishReason)
	}
}

func TestChatCompletion(t *testing.T) {
	p := startPod(t)
	var c completion
	ok(t, p.url+"/v1/chat/completions", `{"model":"stories260K","messages":[{"role":"user","content":"Hi"}],"max_completion_tokens":12,"temperature":0}`, &c)
	if !strings.HasPrefix(c.ID, "chatcmpl-") || c.Object != "chat.completion" || c.Choices[0].Message.Role != "assistant" || c.Choices[0].Message.Content == "" {
		t.Fatalf("%+v", c)
	}
	// stories260K has no chat template: the prompt is the ChatML fallback, without BOS.
	tok, err := p.engine.Tokenize(context.Background(), &enginev1.TokenizeRequest{Text: "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", AddSpecialTokens: new(bool)})
	if err != nil {
		t.Fatal(err)
	}
	if c.Usage.PromptTokens != len(tok.Ids) || c.Usage.CompletionTokens != 12 {
		t.Errorf("usage %+v, want %d prompt tokens", *c.Usage, len(tok.Ids))
	}
}

// sse reads a whole event stream strictly: every event is "data: ...\n\n", the
// last is [DONE] unless an error event ended it.
func readSSE(t *testing.T, r io.Reader) (chunks []completion, raw []string) {
	t.Helper()
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF && line == "" {
			t.Fatalf("stream ended without [DONE] after %d events", len(raw))
		}
		if err != nil {
			t.Fatal(err)
		}
		blank, err := br.ReadString('\n')
		if err != nil || blank != "\n" || !strings.HasPrefix(line, "data: ") {
			t.Fatalf("malformed event %q then %q (%v)", line, blank, err)
		}
		data := strings.TrimSuffix(strings.TrimPrefix(line, "data: "), "\n")
		raw = append(raw, data)
		if data == "[DONE]" {
			if rest, _ := io.ReadAll(br); len(rest) > 0 {
				t.Fatalf("bytes after [DONE]: %q", rest)
			}
			return
		}
		var c completion
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("%v: %s", err, data)
		}
		chunks = append(chunks, c)
	}
}

func stream(t *testing.T, url, body string) ([]completion, []string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		data, _ := io.ReadAll(resp.Body)
		t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
	return readSSE(t, resp.Body)
}

func TestStreamingMatchesWhole(t *testing.T) {
	p := startPod(t)
	var whole completion
	ok(t, p.url+"/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","max_tokens":20,"temperature":0}`, &whole)
	chunks, raw := stream(t, p.url+"/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","max_tokens":20,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}`)
	var text string
	for i, c := range chunks[:len(chunks)-1] {
		if c.Object != "text_completion" || c.ID != chunks[0].ID || len(c.Choices) != 1 || c.Usage != nil || !strings.Contains(raw[i], `"usage":null`) {
			t.Fatalf("chunk %d: %s", i, raw[i])
		}
		text += c.Choices[0].Text
	}
	last := chunks[len(chunks)-1]
	if text != whole.Choices[0].Text || len(last.Choices) != 0 || last.Usage == nil || *last.Usage != *whole.Usage {
		t.Fatalf("streamed %q usage %s; whole %q %+v", text, raw[len(raw)-2], whole.Choices[0].Text, *whole.Usage)
	}
	if fr := chunks[len(chunks)-2].Choices[0].FinishReason; fr == nil || *fr != "length" {
		t.Errorf("last choice chunk: %s", raw[len(raw)-3])
	}

	chunks, raw = stream(t, p.url+"/v1/chat/completions", `{"model":"stories260K","messages":[{"role":"user","content":"Hi"}],"max_tokens":10,"temperature":0,"stream":true}`)
	var chat completion
	ok(t, p.url+"/v1/chat/completions", `{"model":"stories260K","messages":[{"role":"user","content":"Hi"}],"max_tokens":10,"temperature":0}`, &chat)
	if chunks[0].Object != "chat.completion.chunk" || chunks[0].Choices[0].Delta.Role != "assistant" {
		t.Fatalf("first chat chunk %s", raw[0])
	}
	text = ""
	for i, c := range chunks {
		if strings.Contains(raw[i], `"usage"`) {
			t.Fatalf("usage without include_usage: %s", raw[i])
		}
		if c.Choices[0].Delta.Content != nil {
			text += *c.Choices[0].Delta.Content
		}
	}
	if text != chat.Choices[0].Message.Content {
		t.Errorf("chat stream %q, whole %q", text, chat.Choices[0].Message.Content)
	}
}

func TestNChoicesSeedAndStop(t *testing.T) {
	p := startPod(t)
	url := p.url + "/v1/completions"
	var c completion
	ok(t, url, `{"model":"stories260K","prompt":"Once upon a time","max_tokens":8,"n":2,"temperature":1,"seed":7,"ignore_eos":true}`, &c)
	if len(c.Choices) != 2 || c.Choices[0].Index != 0 || c.Choices[1].Index != 1 || c.Usage.CompletionTokens != 16 {
		t.Fatalf("n=2: %+v", c)
	}
	tok, _ := p.engine.Tokenize(context.Background(), &enginev1.TokenizeRequest{Text: "Once upon a time"})
	if c.Usage.PromptTokens != len(tok.Ids) {
		t.Errorf("prompt counted %d times over: %d vs %d", c.Usage.PromptTokens/len(tok.Ids), c.Usage.PromptTokens, len(tok.Ids))
	}
	var again completion
	ok(t, url, `{"model":"stories260K","prompt":"Once upon a time","max_tokens":8,"n":2,"temperature":1,"seed":7,"ignore_eos":true}`, &again)
	if again.Choices[0].Text != c.Choices[0].Text || again.Choices[1].Text != c.Choices[1].Text {
		t.Errorf("seed 7 not reproducible: %q vs %q", again.Choices[0].Text, c.Choices[0].Text)
	}
	chunks, _ := stream(t, url, `{"model":"stories260K","prompt":"Once upon a time","max_tokens":8,"n":2,"temperature":1,"seed":7,"ignore_eos":true,"stream":true}`)
	texts := map[int]string{}
	for _, ch := range chunks {
		texts[ch.Choices[0].Index] += ch.Choices[0].Text
	}
	if texts[0] != c.Choices[0].Text || texts[1] != c.Choices[1].Text {
		t.Errorf("streamed n=2 %v, whole %q %q", texts, c.Choices[0].Text, c.Choices[1].Text)
	}

	var greedy, stopped completion
	ok(t, url, `{"model":"stories260K","prompt":[1],"max_tokens":40,"temperature":0}`, &greedy)
	i := strings.Index(greedy.Choices[0].Text, "little girl")
	if i < 0 {
		t.Fatalf("greedy text lacks the stop string: %q", greedy.Choices[0].Text)
	}
	ok(t, url, `{"model":"stories260K","prompt":[1],"max_tokens":40,"temperature":0,"stop":["zzz","little girl"]}`, &stopped)
	if stopped.Choices[0].Text != greedy.Choices[0].Text[:i] || *stopped.Choices[0].FinishReason != "stop" {
		t.Errorf("stop: %q (%s), want %q", stopped.Choices[0].Text, *stopped.Choices[0].FinishReason, greedy.Choices[0].Text[:i])
	}
	ok(t, url, `{"model":"stories260K","prompt":[1],"max_tokens":40,"temperature":0,"stop":"little girl"}`, &stopped)
	if stopped.Choices[0].Text != greedy.Choices[0].Text[:i] {
		t.Errorf("stop as a string: %q", stopped.Choices[0].Text)
	}
}

func TestLogprobShapes(t *testing.T) {
	p := startPod(t)
	var chat struct {
		Choices []struct {
			Logprobs struct {
				Content []struct {
					Token       string
					Logprob     float64
					Bytes       []int
					TopLogprobs []struct {
						Token   string
						Logprob float64
						Bytes   []int
					} `json:"top_logprobs"`
				}
			}
		}
	}
	ok(t, p.url+"/v1/chat/completions", `{"model":"stories260K","messages":[{"role":"user","content":"Hi"}],"max_tokens":5,"temperature":0,"logprobs":true,"top_logprobs":3}`, &chat)
	content := chat.Choices[0].Logprobs.Content
	if len(content) != 5 {
		t.Fatalf("%d logprob entries, want 5", len(content))
	}
	for _, c := range content {
		if len(c.TopLogprobs) != 3 || c.TopLogprobs[0].Token != c.Token || c.Logprob > 0 || !bytes.Equal(intBytes(c.Bytes), []byte(c.Token)) {
			t.Errorf("entry %+v", c)
		}
	}
	var compl struct {
		Choices []struct {
			Text     string
			Logprobs struct {
				Tokens        []string
				TokenLogprobs []float64            `json:"token_logprobs"`
				TopLogprobs   []map[string]float64 `json:"top_logprobs"`
				TextOffset    []int                `json:"text_offset"`
			}
		}
	}
	ok(t, p.url+"/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","max_tokens":6,"temperature":0,"logprobs":2}`, &compl)
	lp := compl.Choices[0].Logprobs
	if len(lp.Tokens) != 6 || len(lp.TokenLogprobs) != 6 || len(lp.TopLogprobs) != 6 || len(lp.TextOffset) != 6 || lp.TextOffset[0] != 0 {
		t.Fatalf("completion logprobs %+v", lp)
	}
	if strings.Join(lp.Tokens, "") != compl.Choices[0].Text || len(lp.TopLogprobs[0]) != 2 {
		t.Errorf("tokens %q do not spell %q, or top %v", lp.Tokens, compl.Choices[0].Text, lp.TopLogprobs[0])
	}
	var plain completion
	ok(t, p.url+"/v1/completions", `{"model":"stories260K","prompt":"Once","max_tokens":2}`, &plain)
	if string(plain.Choices[0].Logprobs) != "null" {
		t.Errorf("logprobs not asked for: %s", plain.Choices[0].Logprobs)
	}
}

func intBytes(x []int) []byte {
	b := make([]byte, len(x))
	for i, v := range x {
		b[i] = byte(v)
	}
	return b
}

type errorBody struct {
	Error struct {
		Message string
		Type    string
		Param   *string
		Code    *string
	}
}

func wantError(t *testing.T, url, body string, status int, param string) errorBody {
	t.Helper()
	resp, data := post(t, url, body)
	var e errorBody
	if err := json.Unmarshal(data, &e); err != nil || resp.StatusCode != status || e.Error.Message == "" {
		t.Fatalf("%s: %d %s, want %d", body, resp.StatusCode, data, status)
	}
	got := ""
	if e.Error.Param != nil {
		got = *e.Error.Param
	}
	if got != param {
		t.Errorf("%s: param %q, want %q (%s)", body, got, param, data)
	}
	return e
}

func TestErrors(t *testing.T) {
	p := startPod(t)
	compl, chat := p.url+"/v1/completions", p.url+"/v1/chat/completions"
	e := wantError(t, compl, `{"model":"gpt-9","prompt":"x"}`, 404, "")
	if e.Error.Code == nil || *e.Error.Code != "model_not_found" || e.Error.Type != "invalid_request_error" {
		t.Errorf("unknown model: %+v", e)
	}
	wantError(t, chat, `{"model":"../stories260K","messages":[{"role":"user","content":"x"}]}`, 404, "")
	wantError(t, compl, `{"model":"stories260K","prompt":`, 400, "")
	wantError(t, compl, `{"model":"stories260K","prompt":"x","temperature":"hot"}`, 400, "temperature")
	wantError(t, compl, `{"model":"stories260K","prompt":"x","temperature":-1}`, 400, "temperature")
	wantError(t, compl, `{"model":"stories260K","prompt":"x","top_p":2}`, 400, "top_p")
	wantError(t, compl, `{"model":"stories260K","prompt":"x","n":0}`, 400, "n")
	wantError(t, compl, `{"model":"stories260K","prompt":"x","logprobs":99}`, 400, "logprobs")
	wantError(t, chat, `{"model":"stories260K","messages":[{"role":"user","content":"x"}],"top_logprobs":2}`, 400, "top_logprobs")
	wantError(t, chat, `{"model":"stories260K","messages":[{"role":"user","content":"x"}],"max_completion_tokens":5000}`, 400, "max_completion_tokens")
	wantError(t, chat, `{"model":"stories260K","messages":[]}`, 400, "messages")
	wantError(t, compl, `{"prompt":"x"}`, 400, "model")
	long := strings.Repeat("Once upon a time there was a girl. ", 300)
	e = wantError(t, compl, fmt.Sprintf(`{"model":"stories260K","prompt":%q}`, long), 400, "prompt")
	if !strings.Contains(e.Error.Message, "maximum context length is 2048") {
		t.Errorf("too long: %s", e.Error.Message)
	}
	wantError(t, chat, fmt.Sprintf(`{"model":"stories260K","messages":[{"role":"user","content":%q}]}`, long), 400, "messages")
	answersGolden(t, p)
}

func TestEngineDown(t *testing.T) {
	conn := dial(t, "unix://"+filepath.Join(t.TempDir(), "nobody.sock"))
	hs := httptest.NewServer(New(Config{Engine: conn, ModelID: "stories260K"}))
	defer hs.Close()
	resp, data := post(t, hs.URL+"/v1/completions", `{"model":"stories260K","prompt":"x"}`)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(data), `"error"`) {
		t.Fatalf("engine down: %d Retry-After=%q %s", resp.StatusCode, resp.Header.Get("Retry-After"), data)
	}
	r, err := http.Get(hs.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 503 {
		t.Errorf("/readyz with no engine: %d", r.StatusCode)
	}
	if r, _ := http.Get(hs.URL + "/healthz"); r.StatusCode != 200 {
		t.Errorf("/healthz: %d", r.StatusCode)
	}
}

func TestClientDisconnectCancels(t *testing.T) {
	p := startPod(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", p.url+"/v1/completions",
		strings.NewReader(`{"model":"stories260K","prompt":[1],"max_tokens":1900,"ignore_eos":true,"stream":true}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "data: {") {
		t.Fatalf("first event %q %v", line, err)
	}
	cancel()
	resp.Body.Close()
	for {
		st, err := p.engine.Stats(context.Background(), &enginev1.StatsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if st.RunningSequences == 0 && st.QueueDepth == 0 && st.KvBlocksUsed == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestModelsMetricsReadiness(t *testing.T) {
	p := startPod(t)
	resp, err := http.Get(p.url + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Object string
		Data   []struct {
			ID, Object, Root string
			Parent           *string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
		if m.Object != "model" || (m.ID == "stories260K") != (m.Parent == nil) || (m.Parent != nil && *m.Parent != "stories260K") || m.Root == "" {
			t.Errorf("card %+v", m)
		}
	}
	if list.Object != "list" || !slices.Equal(ids, []string{"stories260K", "all-r8", "mlp-r16", "o-r2-rslora", "qv-r4"}) {
		t.Errorf("models %s %v", list.Object, ids)
	}
	var c completion
	ok(t, p.url+"/v1/completions", `{"model":"stories260K","prompt":"Once","max_tokens":3}`, &c)
	resp, err = http.Get(p.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{
		`vllm:time_to_first_token_seconds_count{model_name="stories260K"} 1`, `vllm:e2e_request_latency_seconds_bucket`,
		fmt.Sprintf(`vllm:prompt_tokens_total{model_name="stories260K"} %d`, c.Usage.PromptTokens),
		`vllm:generation_tokens_total{model_name="stories260K"} 3`,
	} {
		if !strings.Contains(string(body), name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if r, _ := http.Get(p.url + "/readyz"); r.StatusCode != 200 {
		t.Errorf("/readyz: %d", r.StatusCode)
	}
}

// TestEngineDiesMidStream: the stream ends with an error event, /readyz turns
// unready, and both recover once an engine serves the socket again.
func TestEngineDiesMidStream(t *testing.T) {
	p := startPod(t)
	resp, err := http.Post(p.url+"/v1/completions", "application/json",
		strings.NewReader(`{"model":"stories260K","prompt":[1],"max_tokens":1900,"ignore_eos":true,"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "data: {") {
		t.Fatalf("first event %q %v", line, err)
	}
	p.stopEngine()
	rest, _ := io.ReadAll(br)
	// rest starts with the blank line that ended the first event.
	events := strings.Split(strings.Trim(string(rest), "\n"), "\n\n")
	lastEvent := events[len(events)-1]
	if !strings.HasPrefix(lastEvent, `data: {"error":{`) || strings.Contains(string(rest), "[DONE]") {
		t.Fatalf("stream after the engine died ended with %q", lastEvent)
	}
	if r, _ := http.Get(p.url + "/readyz"); r.StatusCode != 503 {
		t.Errorf("/readyz with the engine dead: %d", r.StatusCode)
	}
	p.startEngine()
	// grpc-go reconnects with backoff; readiness must follow without a restart.
	for {
		r, err := http.Get(p.url + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode == 200 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var c completion
	ok(t, p.url+"/v1/completions", `{"model":"stories260K","prompt":"Once","max_tokens":3}`, &c)
}
