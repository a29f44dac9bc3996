package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/server"
	"github.com/graft-ai/graft/gateway"
	"github.com/graft-ai/graft/internal/jaeger"
	"github.com/graft-ai/graft/internal/testgraft"
	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/internal/testserver"
	"github.com/graft-ai/graft/internal/tracing"
	"github.com/graft-ai/graft/sidecar"
	"github.com/graft-ai/graft/xds"
)

// TestTraceOfAChatRequest: one streamed chat request with the client's own
// traceparent, through a real Envoy, the gateway, a sidecar and an engine,
// all exporting to a real Jaeger, comes back from Jaeger's query API as one
// trace continued from the client's: spans from all four services, each
// hop's server span under the previous hop's span, the engine's phases under
// its Generate span, and the decode span counting the completion tokens the
// client was told about.
func TestTraceOfAChatRequest(t *testing.T) {
	for _, mode := range frontModes {
		t.Run(mode.name, func(t *testing.T) {
			root := testmodels.Path(t, "stories260K")
			if _, err := xds.EnvoyBinary("."); err != nil {
				t.Skipf("no Envoy here (%v); make test installs it", err)
			}
			jg := testserver.StartJaeger(t)
			t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100") // export within 0.1 s, not 5 s
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			tracer := func(service string) trace.TracerProvider {
				tp, stop, err := tracing.Start(ctx, tracing.Config{Endpoint: jg.OTLP, Service: service})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { stop(context.Background()) })
				return tp
			}

			store, redisURL := redisState(t)
			p := &platform{store: store, records: deploy.Records{Store: store}, module: mode.module, redisURL: redisURL}
			model := filepath.Join(root, "gguf", "stories260K.gguf")
			p.deployment(t, "stories", fmt.Sprintf(`{"base_model": %q}`, model), deploy.Initializing, deploy.Ready)
			startTracedPod(t, ctx, root, redisURL, tracer("graft-engine"), tracer("graft-sidecar"))
			p.startFrontWith(t, ctx, gateway.FrontConfig{OTLP: jg.OTLP,
				Gateway: gateway.Config{Store: store, Deployments: gateway.FromRecords(p.records, p.records),
					Registry: prometheus.NewRegistry(), Tracer: tracer("graft-gateway")}})
			p.key = p.newKey(t, "acme")
			p.waitRoutable(t, "stories", 1)

			const prompt = "Once upon a time, a little dragon"
			traceID, parent := "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
			completion := streamChat(t, p, "stories", prompt, "00-"+traceID+"-"+parent+"-01")

			tr := waitTrace(t, jg, traceID, func(tr jaegerTrace) bool {
				return tr.find("graft-engine", "engine.decode") != nil && tr.find("envoy", "") != nil &&
					tr.find("graft-gateway", "gateway.decide") != nil && tr.find("graft-sidecar", "POST /v1/chat/completions") != nil
			})
			t.Logf("trace %s:\n%s", traceID, tr.tree())
			if !listed(t, jg, "graft-engine", traceID) {
				t.Errorf("Jaeger's /api/traces?service=graft-engine does not list trace %s", traceID)
			}

			roots := tr.roots()
			if len(roots) != 1 || tr.service(roots[0]) != "envoy" || roots[0].parentID() != parent {
				t.Fatalf("want one root, Envoy's span under the client's %s; got %d roots:\n%s", parent, len(roots), tr.tree())
			}
			checkParent := func(svc, op, parentSvc, parentOp string) *jaegerSpan {
				t.Helper()
				return tr.check(t, svc, op, parentSvc, parentOp)
			}
			// Over ext_proc the gateway's spans hang from its server span, itself
			// under Envoy's; loaded into Envoy, they hang from Envoy's own span.
			gwParent, gwParentOp := "envoy", ""
			if !p.module {
				checkParent("graft-gateway", "envoy.service.ext_proc.v3.ExternalProcessor/Process", "envoy", "")
				gwParent, gwParentOp = "graft-gateway", "envoy.service.ext_proc.v3.ExternalProcessor/Process"
			}
			checkParent("graft-gateway", "gateway.authenticate", gwParent, gwParentOp)
			checkParent("graft-gateway", "gateway.decide", gwParent, gwParentOp)
			checkParent("graft-sidecar", "POST /v1/chat/completions", "envoy", "")
			checkParent("graft-sidecar", "graft.engine.v1.Engine/Generate", "graft-sidecar", "POST /v1/chat/completions")
			checkParent("graft-engine", "graft.engine.v1.Engine/Generate", "graft-sidecar", "graft.engine.v1.Engine/Generate")
			checkParent("graft-engine", "engine.queue", "graft-engine", "graft.engine.v1.Engine/Generate")
			checkParent("graft-engine", "engine.prefill", "graft-engine", "graft.engine.v1.Engine/Generate")
			decode := checkParent("graft-engine", "engine.decode", "graft-engine", "graft.engine.v1.Engine/Generate")
			if got := decode.tag("gen_ai.usage.output_tokens"); got != fmt.Sprint(completion) {
				t.Errorf("decode span's output tokens %q, want the %d the client was told", got, completion)
			}
			if got := decode.tag("graft.batch_size"); got == "" || got == "0" {
				t.Errorf("decode span's batch size %q", got)
			}
			// A first request for an adapter shows the sidecar fetching it and the
			// engine loading it, inside the request's own trace.
			adapterTrace := "5bf92f3577b34da6a3ce929d0e0e4737"
			streamChat(t, p, "stories/qv-r4", prompt, "00-"+adapterTrace+"-"+parent+"-01")
			at := waitTrace(t, jg, adapterTrace, func(tr jaegerTrace) bool {
				return tr.find("graft-engine", "graft.engine.v1.Engine/LoadAdapter") != nil && tr.find("graft-engine", "engine.decode") != nil &&
					tr.find("envoy", "") != nil
			})
			if r := at.roots(); len(r) != 1 || at.service(r[0]) != "envoy" {
				t.Errorf("adapter trace: want Envoy's span as the one root:\n%s", at.tree())
			}
			t.Logf("trace %s (first use of an adapter):\n%s", adapterTrace, at.tree())
			at.check(t, "graft-sidecar", "adapter.load", "graft-sidecar", "POST /v1/chat/completions")
			at.check(t, "graft-sidecar", "adapter.fetch", "graft-sidecar", "adapter.load")
			at.check(t, "graft-engine", "graft.engine.v1.Engine/LoadAdapter", "graft-sidecar", "graft.engine.v1.Engine/LoadAdapter")
			if got := at.check(t, "graft-engine", "engine.decode", "graft-engine", "graft.engine.v1.Engine/Generate").tag("graft.adapter_id"); got != "qv-r4" {
				t.Errorf("decode span's adapter %q, want qv-r4", got)
			}
			for _, s := range tr.Spans {
				// A request that succeeded has no error span: the sidecar's engine
				// call once showed as cancelled after its last message.
				if s.tag("error") == "true" {
					t.Errorf("%s %q is marked as an error in a request that succeeded", tr.service(&s), s.OperationName)
				}
				for _, kv := range s.Tags {
					if strings.Contains(fmt.Sprint(kv.Value), "little dragon") {
						t.Errorf("%s %q records the prompt in %s", tr.service(&s), s.OperationName, kv.Key)
					}
				}
			}
		})
	}
}

func startTracedPod(t *testing.T, ctx context.Context, root, redisURL string, engineTP, sidecarTP trace.TracerProvider) {
	adapters := filepath.Join(root, "adapters")
	eng, err := server.Start(ctx, server.Options{
		Model: filepath.Join(root, "gguf", "stories260K.gguf"), ServedName: "stories260K",
		Device: "cpu", Threads: 1, Engine: engine.Config{MaxNumSeqs: 8}, AdapterDirs: []string{adapters},
		Tracer: engineTP,
	})
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- sidecar.Run(sctx, sidecar.Config{Engine: eng.Addr(), Listen: "127.0.0.1:0", AdapterRoot: adapters,
			AdapterCache: t.TempDir(), Redis: redisURL, Deployment: "stories", ReplicaID: "r0",
			HeartbeatTTL: 5 * time.Second, Tracer: sidecarTP})
	}()
	t.Cleanup(func() {
		scancel()
		<-done
		eng.Stop()
		eng.Wait()
	})
}

// streamChat sends a streamed chat request with traceparent and returns the
// completion tokens its usage chunk reports.
func streamChat(t *testing.T, p *platform, model, prompt, traceparent string) int {
	t.Helper()
	body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%q}],"max_tokens":24,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}`, model, prompt)
	req, _ := http.NewRequest("POST", p.url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("content-type", "application/json")
	req.Header.Set("authorization", "Bearer "+p.key)
	req.Header.Set("traceparent", traceparent)
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("chat: %s", resp.Status)
	}
	completion := -1
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var c struct {
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			}
		}
		if json.Unmarshal([]byte(data), &c) == nil && c.Usage != nil {
			completion = c.Usage.CompletionTokens
		}
	}
	if completion <= 0 {
		t.Fatalf("no usage chunk with completion tokens in the stream")
	}
	return completion
}

// startFrontWith starts the front from c, filling in the test's directory,
// address and client.
func (p *platform) startFrontWith(t *testing.T, ctx context.Context, c gateway.FrontConfig) {
	t.Helper()
	if _, err := xds.EnvoyBinary("."); err != nil {
		t.Skipf("no Envoy here (%v); make test installs it", err)
	}
	c.Dir, c.Listen = t.TempDir(), fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t))
	// GRAFT_TEST_FRONT=module runs every front test with the module, not
	// only those that run in both modes.
	p.module = p.module || os.Getenv("GRAFT_TEST_FRONT") == "module"
	if p.module {
		c.GatewayModule, c.RedisURL = testgraft.GatewayModule(t), p.redisURL
	}
	f, err := gateway.StartFront(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	client, err := f.Client()
	if err != nil {
		t.Fatal(err)
	}
	client.Timeout = 30 * time.Second
	p.client, p.url, p.front = client, f.URL, f
}

// jaegerTrace is a trace as Jaeger's query API returns it.
type jaegerTrace struct {
	Spans     []jaegerSpan
	Processes map[string]struct{ ServiceName string }
	byID      map[string]*jaegerSpan
}

type jaegerSpan struct {
	SpanID        string
	OperationName string
	ProcessID     string
	StartTime     int64 // µs
	Duration      int64 // µs
	References    []struct{ RefType, SpanID string }
	Tags          []struct {
		Key   string
		Value any
	}
}

func (s *jaegerSpan) String() string { return s.OperationName }

func (s *jaegerSpan) parentID() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

func (s *jaegerSpan) tag(k string) string {
	for _, kv := range s.Tags {
		if kv.Key == k {
			return fmt.Sprint(kv.Value)
		}
	}
	return ""
}

func (tr *jaegerTrace) service(s *jaegerSpan) string { return tr.Processes[s.ProcessID].ServiceName }

// check finds service's span op and checks its parent is parentSvc's
// parentOp ("" for any).
func (tr *jaegerTrace) check(t *testing.T, svc, op, parentSvc, parentOp string) *jaegerSpan {
	t.Helper()
	s := tr.find(svc, op)
	if s == nil {
		t.Fatalf("no %s span %q:\n%s", svc, op, tr.tree())
	}
	par := tr.byID[s.parentID()]
	if par == nil || tr.service(par) != parentSvc || (parentOp != "" && par.OperationName != parentOp) {
		t.Errorf("%s %q: parent %v, want %s %q", svc, op, par, parentSvc, parentOp)
	}
	return s
}

// find returns a span of service named op ("" for any).
func (tr *jaegerTrace) find(service, op string) *jaegerSpan {
	for i := range tr.Spans {
		s := &tr.Spans[i]
		if tr.service(s) == service && (op == "" || s.OperationName == op) {
			return s
		}
	}
	return nil
}

func (tr *jaegerTrace) roots() []*jaegerSpan {
	var out []*jaegerSpan
	for i := range tr.Spans {
		if tr.byID[tr.Spans[i].parentID()] == nil {
			out = append(out, &tr.Spans[i])
		}
	}
	return out
}

// tree prints the spans indented under their parents, with durations.
func (tr *jaegerTrace) tree() string {
	var b strings.Builder
	var walk func(s *jaegerSpan, depth int)
	walk = func(s *jaegerSpan, depth int) {
		fmt.Fprintf(&b, "%s%s %q %s\n", strings.Repeat("  ", depth), tr.service(s), s.OperationName,
			time.Duration(s.Duration)*time.Microsecond)
		var kids []*jaegerSpan
		for i := range tr.Spans {
			if tr.Spans[i].parentID() == s.SpanID {
				kids = append(kids, &tr.Spans[i])
			}
		}
		slices.SortFunc(kids, func(a, b *jaegerSpan) int { return int(a.StartTime - b.StartTime) })
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, r := range tr.roots() {
		walk(r, 0)
	}
	return b.String()
}

// waitTrace polls Jaeger until the trace is there and complete enough, or
// fails with what it has after 30 s (Envoy flushes its spans every 5 s).
func waitTrace(t *testing.T, jg *jaeger.Jaeger, id string, complete func(jaegerTrace) bool) jaegerTrace {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last jaegerTrace
	settled := false
	for {
		var got struct{ Data []jaegerTrace }
		resp, err := http.Get(jg.QueryURL + "/api/traces/" + id)
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
		}
		if len(got.Data) == 1 {
			last = got.Data[0]
			last.byID = map[string]*jaegerSpan{}
			for i := range last.Spans {
				last.byID[last.Spans[i].SpanID] = &last.Spans[i]
			}
			if complete(last) && settled {
				return last
			}
			// Once complete, one more look a second later: spans of the
			// same trace may still be arriving.
			if settled = complete(last); settled {
				time.Sleep(time.Second)
				continue
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s incomplete in Jaeger after 30 s (%d traces):\n%s", id, len(got.Data), last.tree())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// listed says whether Jaeger's trace search for service returns id.
func listed(t *testing.T, jg *jaeger.Jaeger, service, id string) bool {
	resp, err := http.Get(jg.QueryURL + "/api/traces?limit=100&lookback=1h&service=" + service)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct{ Data []struct{ TraceID string } }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(got.Data, func(d struct{ TraceID string }) bool { return d.TraceID == id })
}
