package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/server"
	"github.com/graft-ai/graft/gateway"
	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/internal/testserver"
	"github.com/graft-ai/graft/sidecar"
	"github.com/graft-ai/graft/xds"
)

// platform is the front door on real parts: redis-server, pods started
// through the library calls, the xDS control plane, the gateway and Envoy.
type platform struct {
	store   *state.Store
	records deploy.Records
	url     string
	client  *http.Client
	key     string
	front   *gateway.Front
	// module has Envoy load the gateway as its dynamic module, which reads
	// the state at redisURL, instead of calling this process over ext_proc.
	module   bool
	redisURL string
}

type platformOpts struct {
	replicas int
	adapters string                // adapter root; default stories260K's adapters
	gateway  func(*gateway.Config) // adjusts the gateway's config
	module   bool                  // see platform.module
}

// frontModes are the two ways Envoy reaches the gateway; the tests of the
// gateway's answers run in both.
var frontModes = []struct {
	name   string
	module bool
}{{"ext_proc", false}, {"module", true}}

func startPlatform(t *testing.T, o platformOpts) *platform {
	t.Helper()
	replicas := o.replicas
	root := testmodels.Path(t, "stories260K")
	if o.adapters == "" {
		o.adapters = filepath.Join(root, "adapters")
	}
	if _, err := xds.EnvoyBinary("."); err != nil {
		t.Skipf("no Envoy here (%v); make test installs it", err)
	}
	store, redisURL := redisState(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p := &platform{store: store, records: deploy.Records{Store: store}, module: o.module, redisURL: redisURL}

	model := filepath.Join(root, "gguf", "stories260K.gguf")
	p.deployment(t, "stories", fmt.Sprintf(`{"base_model": %q}`, model), deploy.Initializing, deploy.Ready)
	for i := range replicas {
		startPod(t, ctx, root, o.adapters, redisURL, "stories", fmt.Sprintf("r%d", i))
	}

	p.startFront(t, ctx, gateway.FromRecords(p.records, p.records), o.gateway)
	p.key = p.newKey(t, "acme")
	p.waitRoutable(t, "stories", replicas)
	return p
}

// redisState starts a redis-server for the test and opens the platform's
// state on it.
func redisState(t *testing.T) (*state.Store, string) {
	t.Helper()
	url := "redis://" + testserver.Redis(t).Addr
	store, err := state.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store, url
}

// startFront runs the gateway over deps (over Redis, as a module), the xDS
// control plane over the store, and a real Envoy bootstrapped from it; the
// client trusts its CA.
func (p *platform) startFront(t *testing.T, ctx context.Context, deps gateway.Deployments, adjust func(*gateway.Config)) {
	t.Helper()
	gcfg := gateway.Config{Store: p.store, Deployments: deps, Registry: prometheus.NewRegistry()}
	if adjust != nil {
		adjust(&gcfg)
	}
	p.startFrontWith(t, ctx, gateway.FrontConfig{Gateway: gcfg})
}

func (p *platform) newKey(t *testing.T, tenant string) string {
	key, rec := gateway.NewAPIKey(tenant, "test", false)
	if err := p.store.PutAPIKey(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return key
}

// deployment creates a record and walks it through statuses.
func (p *platform) deployment(t *testing.T, name, spec string, path ...deploy.Status) {
	t.Helper()
	s, err := deploy.DecodeSpec([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := p.records.Create(ctx, name, s); err != nil {
		t.Fatal(err)
	}
	for i, st := range path {
		reason := "test"
		if st == deploy.Errored {
			reason = "unsupported tensor type IQ2_XXS in blk.0.attn_q.weight"
		}
		if _, err := p.records.SetStatus(ctx, name, nil, st, reason); err != nil {
			t.Fatalf("%s step %d: %v", name, i, err)
		}
	}
}

func startPod(t *testing.T, ctx context.Context, root, adapters, redisURL, dep, id string) {
	eng, err := server.Start(ctx, server.Options{
		Model: filepath.Join(root, "gguf", "stories260K.gguf"), ServedName: "stories260K",
		Device: "cpu", Threads: 1, Engine: engine.Config{MaxNumSeqs: 8}, AdapterDirs: []string{adapters},
	})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- sidecar.Run(sctx, sidecar.Config{Engine: eng.Addr(), Listen: "127.0.0.1:0", AdapterRoot: adapters,
			AdapterCache: t.TempDir(), Redis: redisURL, Deployment: dep, ReplicaID: id, HeartbeatTTL: 5 * time.Second})
	}()
	t.Cleanup(func() {
		scancel()
		<-done
		eng.Stop()
		eng.Wait()
	})
}

// waitRoutable waits until the front answers the deployment's base model.
func (p *platform) waitRoutable(t *testing.T, dep string, replicas int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		reps, _ := p.store.Replicas(context.Background(), dep)
		ready := 0
		for _, r := range reps {
			if r.State == state.StateReady {
				ready++
			}
		}
		code, _ := p.post(t, "/v1/completions", p.key, fmt.Sprintf(`{"model":%q,"prompt":"x","max_tokens":1}`, dep))
		if code == 200 && ready == replicas {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s not routable through the front: last status %d, %d ready", dep, code, ready)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *platform) post(t *testing.T, path, key, body string) (int, string) {
	t.Helper()
	code, out, _ := p.postFrom(t, path, key, body)
	return code, out
}

// postFrom also returns the replica that answered.
func (p *platform) postFrom(t *testing.T, path, key, body string) (int, string, string) {
	t.Helper()
	return p.send(t, path, key, body, nil)
}

// send posts body with key (none when "") and the extra headers.
func (p *platform) send(t *testing.T, path, key, body string, headers map[string]string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", p.url+path, strings.NewReader(body))
	req.Header.Set("content-type", "application/json")
	if key != "" {
		req.Header.Set("authorization", "Bearer "+key)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("x-graft-replica")
}

// fire sends a request from any goroutine and ignores the answer.
func (p *platform) fire(path, body string) { p.fireCtx(context.Background(), path, body) }

// fireCtx is fire, cut when ctx ends.
func (p *platform) fireCtx(ctx context.Context, path, body string) {
	req, _ := http.NewRequestWithContext(ctx, "POST", p.url+path, strings.NewReader(body))
	req.Header.Set("authorization", "Bearer "+p.key)
	if resp, err := p.client.Do(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

type goldenRun struct {
	Adapter *string `json:"adapter"`
	Prompt  string  `json:"prompt"`
	Text    string  `json:"text"`
}

func goldenRuns(t *testing.T) []goldenRun {
	data, err := os.ReadFile(testmodels.Path(t, "stories260K", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Reference struct{ Runs []goldenRun } `json:"reference"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return g.Reference.Runs
}

// TestFrontServesGoldenTokens: through Envoy (HTTPS) and the gateway, the
// base model and every adapter answer with the reference's exact text.
func TestFrontServesGoldenTokens(t *testing.T) {
	for _, mode := range frontModes {
		t.Run(mode.name, func(t *testing.T) {
			p := startPlatform(t, platformOpts{replicas: 2, module: mode.module})
			for _, run := range goldenRuns(t) {
				if run.Prompt == "" {
					continue
				}
				model := "stories"
				if run.Adapter != nil {
					model += "/" + *run.Adapter
				}
				code, out := p.post(t, "/v1/completions", p.key,
					fmt.Sprintf(`{"model": %q, "prompt": %q, "max_tokens": 64, "temperature": 0}`, model, run.Prompt))
				var c struct {
					Model   string
					Choices []struct{ Text string }
				}
				if code != 200 || json.Unmarshal([]byte(out), &c) != nil || len(c.Choices) != 1 || c.Choices[0].Text != run.Text {
					t.Errorf("%s %q: %d %s, want %q", model, run.Prompt, code, out, run.Text)
				}
				if c.Model != model {
					t.Errorf("response model %q, want the request's %q", c.Model, model)
				}
			}
		})
	}
}

// TestFrontRefusals: the gateway's own answers, in OpenAI's error shape.
func TestFrontRefusals(t *testing.T) {
	for _, mode := range frontModes {
		t.Run(mode.name, func(t *testing.T) {
			p := startPlatform(t, platformOpts{replicas: 1, module: mode.module, gateway: func(c *gateway.Config) {
				c.WakeTimeout, c.HoldLimit = time.Second, 1
			}})
			model := testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf")
			for name, typ := range map[string]string{"mine": "dedicated", "shared": "serverless"} {
				spec, err := deploy.DecodeSpec([]byte(fmt.Sprintf(`{"base_model": %q, "type": %q}`, model, typ)))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := p.records.CreateFor(context.Background(), "acme", name, spec); err != nil {
					t.Fatal(err)
				}
				p.records.SetStatus(context.Background(), name, nil, deploy.Stopped, "test")
			}
			other := p.newKey(t, "other")
			// No controller runs "stuck": woken, it stays Initializing past the wait.
			p.deployment(t, "stuck", `{"base_model": "`+testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf")+`"}`, deploy.Standby)
			p.deployment(t, "halted", `{"base_model": "`+testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf")+`"}`, deploy.Stopped)
			p.deployment(t, "broken", `{"base_model": "`+testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf")+`"}`, deploy.Initializing, deploy.Errored)
			body := func(model string) string { return fmt.Sprintf(`{"model":%q,"prompt":"x","max_tokens":1}`, model) }
			// all-r8 becomes private to acme (p.key's tenant): other must not see it.
			if err := p.store.SetAdapterOwner(context.Background(), "stories", "all-r8", "acme"); err != nil {
				t.Fatal(err)
			}
			// A private adapter outside the adapter root (as a fine-tuned one is).
			if err := p.store.SetAdapterOwner(context.Background(), "stories", "ft/acme/tuned", "acme"); err != nil {
				t.Fatal(err)
			}
			waitCode(t, func() int { code, _ := p.post(t, "/v1/completions", other, body("stories/all-r8")); return code }, 404)
			for _, c := range []struct {
				name, key, body string
				status          int
				code, contains  string
			}{
				{"no key", "", body("stories"), 401, "invalid_api_key", "API key"},
				{"wrong key", "graft-nope", body("stories"), 401, "invalid_api_key", "Incorrect API key"},
				{"unknown deployment", p.key, body("nowhere"), 404, "model_not_found", "nowhere"},
				{"unknown adapter", p.key, body("stories/no-such-adapter"), 404, "", "no-such-adapter"},
				{"no model", p.key, `{"prompt":"x"}`, 400, "invalid_request", "model"},
				{"not json", p.key, `{`, 400, "invalid_request", "JSON"},
				{"stopped", p.key, body("halted"), 503, "deployment_unavailable", "stopped"},
				{"errored", p.key, body("broken"), 503, "deployment_unavailable", "IQ2_XXS"},
				{"past the wake limit", p.key, body("stuck"), 503, "deployment_unavailable", "not ready within"},
				{"another tenant's dedicated deployment", other, body("mine"), 404, "model_not_found", "mine"},
				{"its owner", p.key, body("mine"), 503, "deployment_unavailable", "stopped"},
				{"a serverless deployment", other, body("shared"), 503, "deployment_unavailable", "stopped"},
				{"another tenant's private adapter", other, body("stories/all-r8"), 404, "model_not_found", "stories/all-r8"},
				{"a public adapter", other, body("stories/qv-r4"), 200, "", ""},
				{"its owner's private adapter", p.key, body("stories/all-r8"), 200, "", ""},
			} {
				code, out := p.post(t, "/v1/completions", c.key, c.body)
				var e struct {
					Error struct{ Message, Type, Code string }
				}
				if code == 200 && c.status == 200 {
					continue
				}
				if err := json.Unmarshal([]byte(out), &e); err != nil || code != c.status || !strings.Contains(e.Error.Message, c.contains) ||
					(c.code != "" && e.Error.Code != c.code) {
					t.Errorf("%s: %d %s; want %d with code %q mentioning %q", c.name, code, out, c.status, c.code, c.contains)
				}
			}
			// /v1/models shows each tenant what it may use. The replica publishes
			// qv-r4, loaded by the request above, in its next state report.
			ids := modelIDs(t, p, other)
			for end := time.Now().Add(10 * time.Second); !ids["stories/qv-r4"] && time.Now().Before(end); {
				time.Sleep(50 * time.Millisecond)
				ids = modelIDs(t, p, other)
			}
			if ids["mine"] || !ids["shared"] || !ids["stories"] || ids["stories/all-r8"] || ids["stories/ft/acme/tuned"] || !ids["stories/qv-r4"] {
				t.Errorf("models for tenant other: %v", ids)
			}
			if own := modelIDs(t, p, p.key); !own["stories/all-r8"] || !own["stories/ft/acme/tuned"] {
				t.Errorf("models for tenant acme lack its private adapters: %v", own)
			}

			// The hold is bounded: with one request already waiting for "stuck",
			// the next is refused at once, and told when to retry.
			go p.fire("/v1/completions", body("stuck"))
			time.Sleep(300 * time.Millisecond)
			req, _ := http.NewRequest("POST", p.url+"/v1/completions", strings.NewReader(body("stuck")))
			req.Header.Set("authorization", "Bearer "+p.key)
			resp, err := p.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 503 || !strings.Contains(string(b), "Too many requests are waiting") || resp.Header.Get("retry-after") == "" {
				t.Errorf("second held request: %d %s (Retry-After %q)", resp.StatusCode, b, resp.Header.Get("retry-after"))
			}

			// A held request whose client leaves gives its place up at once:
			// the next one is held (and told after the wait that the
			// deployment did not wake), not refused as one too many.
			time.Sleep(time.Second) // the first held request's wait ends
			cctx, leave := context.WithCancel(context.Background())
			go p.fireCtx(cctx, "/v1/completions", body("stuck"))
			time.Sleep(300 * time.Millisecond)
			leave()
			time.Sleep(200 * time.Millisecond)
			if code, out := p.post(t, "/v1/completions", p.key, body("stuck")); code != 503 || !strings.Contains(out, "not ready within") {
				t.Errorf("held after the held client left: %d %s", code, out)
			}
		})
	}
}

// waitCode polls f until it returns want: a change reaches the gateway's
// cache through Redis's change channel, a moment after it is written.
func waitCode(t *testing.T, f func() int, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := f()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %d, want %d", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// modelIDs lists the model ids /v1/models shows key.
func modelIDs(t *testing.T, p *platform, key string) map[string]bool {
	t.Helper()
	req, _ := http.NewRequest("GET", p.url+"/v1/models", nil)
	req.Header.Set("authorization", "Bearer "+key)
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct{ Data []struct{ ID string } }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range list.Data {
		ids[m.ID] = true
	}
	return ids
}

// TestFrontBodyInPieces: a body that reaches Envoy in several pieces, with
// pauses between them (chunked over HTTP/1.1, DATA frames over HTTP/2), is
// decided on whole: its model routes, and a refusal names what the whole
// body lacks. A request refused at its headers is answered while its body
// still comes.
func TestFrontBodyInPieces(t *testing.T) {
	for _, mode := range frontModes {
		t.Run(mode.name, func(t *testing.T) {
			p := startPlatform(t, platformOpts{replicas: 1, module: mode.module})
			for _, h2 := range []bool{false, true} {
				client := p.client
				if !h2 {
					client = &http.Client{Timeout: 30 * time.Second, Transport: p.client.Transport.(*http.Transport).Clone()}
					client.Transport.(*http.Transport).ForceAttemptHTTP2 = false
					client.Transport.(*http.Transport).TLSClientConfig.NextProtos = []string{"http/1.1"}
				}
				for _, c := range []struct {
					key, body string
					want      int
				}{
					{p.key, `{"model": "stories/qv-r4", "prompt": "Once upon a time", "max_tokens": 2}`, 200},
					{p.key, `{"prompt": "Once upon a time", "max_tokens": 2, "model": "nowhere"}`, 404},
					// Refused at its headers while the body is still coming.
					{"graft-nope", `{"model": "stories/qv-r4", "prompt": "Once upon a time", "max_tokens": 2}`, 401},
				} {
					body, want := c.body, c.want
					pr, pw := io.Pipe()
					go func() {
						for i := 0; i < len(body); i += 20 {
							pw.Write([]byte(body[i:min(i+20, len(body))]))
							time.Sleep(30 * time.Millisecond)
						}
						pw.Close()
					}()
					req, _ := http.NewRequest("POST", p.url+"/v1/completions", pr)
					req.Header.Set("authorization", "Bearer "+c.key)
					resp, err := client.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != want || (want == 404 && !strings.Contains(string(b), "nowhere")) {
						t.Errorf("HTTP/2 %v, %s: %d %s, want %d", h2, body, resp.StatusCode, b, want)
					}
					if !h2 && resp.Proto != "HTTP/1.1" || h2 && resp.Proto != "HTTP/2.0" {
						t.Errorf("sent over %s", resp.Proto)
					}
				}
			}
		})
	}
}
