package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/local"
	"github.com/graft-ai/graft/gateway"
	"github.com/graft-ai/graft/internal/jaeger"
	"github.com/graft-ai/graft/internal/testgraft"
	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/internal/testserver"
	"github.com/graft-ai/graft/internal/tracing"
	"github.com/graft-ai/graft/xds"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testgraft.Cleanup()
	os.Exit(code)
}

// TestFrontWakesAStandbyDeployment: a request for a deployment scaled to
// zero is held while deploy's controller starts a replica (a real graft
// child process), then answered with the reference's tokens; the deployment
// went Standby → Initializing → Ready.
func TestFrontWakesAStandbyDeployment(t *testing.T) {
	for _, mode := range frontModes {
		t.Run(mode.name, func(t *testing.T) {
			model := testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf")
			if _, err := xds.EnvoyBinary("."); err != nil {
				t.Skipf("no Envoy here (%v); make test installs it", err)
			}
			store, redisURL := redisState(t)
			prov, err := local.New(local.Config{Exe: testgraft.Binary(t), Redis: redisURL, Store: store,
				AdapterCache: t.TempDir(), ReadyTimeout: time.Minute, HeartbeatTTL: 2 * time.Second, Drain: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			m, err := deploy.NewManager(deploy.ManagerConfig{Store: store, Provider: prov, Tick: 200 * time.Millisecond,
				Resync: time.Second, Registerer: prometheus.NewRegistry()})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { m.Run(ctx); close(done) }()
			t.Cleanup(func() { cancel(); <-done; prov.Close() })

			adapters := filepath.Join(filepath.Dir(filepath.Dir(model)), "adapters")
			spec, err := deploy.DecodeSpec([]byte(fmt.Sprintf(
				`{"base_model": %q, "adapter_sources": [%q], "threads": 1, "min_replicas": 0, "cooldown": "1h"}`, model, adapters)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Create(ctx, "sleepy", spec); err != nil {
				t.Fatal(err)
			}
			p := &platform{store: store, records: m.Records, module: mode.module, redisURL: redisURL}
			waitStatus(t, m.Records, "sleepy", deploy.Standby)
			jg := startHoldTracing(t, ctx, p, gateway.FromRecords(m.Records, m))
			p.key = p.newKey(t, "acme")

			run := goldenRuns(t)[0]
			for _, r := range goldenRuns(t) {
				if r.Prompt != "" && r.Adapter != nil {
					run = r
					break
				}
			}
			modelName := "sleepy/" + *run.Adapter
			const traceID = "6bf92f3577b34da6a3ce929d0e0e4738"
			code, out := p.postTraced(t, "/v1/completions", "00-"+traceID+"-00f067aa0ba902b7-01",
				fmt.Sprintf(`{"model": %q, "prompt": %q, "max_tokens": 64, "temperature": 0}`, modelName, run.Prompt))
			var c struct{ Choices []struct{ Text string } }
			if code != 200 || json.Unmarshal([]byte(out), &c) != nil || len(c.Choices) != 1 || c.Choices[0].Text != run.Text {
				t.Fatalf("held request: %d %s, want %q", code, out, run.Text)
			}
			evs, err := m.Records.Events(ctx, "sleepy", "", 100)
			if err != nil {
				t.Fatal(err)
			}
			var path []string
			for _, e := range evs {
				path = append(path, string(e.Status))
			}
			want := []string{"Standby", "Initializing", "Ready"}
			if i := slices.Index(path, "Standby"); i < 0 || !slices.Equal(path[i:min(i+3, len(path))], want) {
				t.Fatalf("status path %v, want it to hold %v", strings.Join(path, " → "), want)
			}
			if jg != nil {
				checkHoldSpan(t, jg, traceID)
			}
		})
	}
}

// startHoldTracing starts the front, traced into a real Jaeger when one is
// built (nil otherwise: the test then checks the wake alone).
func startHoldTracing(t *testing.T, ctx context.Context, p *platform, deps gateway.Deployments) *jaeger.Jaeger {
	t.Helper()
	if _, err := jaeger.Binary(); err != nil {
		t.Logf("the hold's span is not checked: %v", err)
		p.startFront(t, ctx, deps, nil)
		return nil
	}
	jg := testserver.StartJaeger(t)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
	tp, stop, err := tracing.Start(ctx, tracing.Config{Endpoint: jg.OTLP, Service: "graft-gateway"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(context.Background()) })
	p.startFrontWith(t, ctx, gateway.FrontConfig{OTLP: jg.OTLP,
		Gateway: gateway.Config{Store: p.store, Deployments: deps, Registry: prometheus.NewRegistry(), Tracer: tp}})
	return jg
}

// checkHoldSpan: the time the request was held while the deployment woke
// is its own span, gateway.hold, inside the gateway's decision, and the
// decision ends only after the hold (the request went on once woken).
func checkHoldSpan(t *testing.T, jg *jaeger.Jaeger, id string) {
	t.Helper()
	tr := waitTrace(t, jg, id, func(tr jaegerTrace) bool { return tr.find("graft-gateway", "gateway.hold") != nil })
	t.Logf("trace of a held request:\n%s", tr.tree())
	hold := tr.check(t, "graft-gateway", "gateway.hold", "graft-gateway", "gateway.decide")
	if got := hold.tag("graft.deployment"); got != "sleepy" {
		t.Errorf("hold span's deployment %q", got)
	}
	decide := tr.byID[hold.parentID()]
	if decide != nil && hold.StartTime+hold.Duration > decide.StartTime+decide.Duration {
		t.Errorf("the hold (%d+%d µs) outlasts the decision (%d+%d µs)", hold.StartTime, hold.Duration, decide.StartTime, decide.Duration)
	}
}

func waitStatus(t *testing.T, rs deploy.Records, name string, want deploy.Status) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := rs.Get(context.Background(), name)
		if err == nil && r.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status %v (%v), want %s", name, r.Status, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// postTraced posts with the test's key and a traceparent of the client's.
func (p *platform) postTraced(t *testing.T, path, traceparent, body string) (int, string) {
	t.Helper()
	code, out, _ := p.send(t, path, p.key, body, map[string]string{"traceparent": traceparent})
	return code, out
}
