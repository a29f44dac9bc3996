package gateway_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/gateway"
	"github.com/graft-ai/graft/xds"
)

// TestCallInlineNeverWaits: a step run on Envoy's thread gives up, having
// charged nothing, wherever it would wait (a key or deployment not in the
// caches, a deployment to wake), and decides on its own once the caches
// hold what it needs; refusals need no wait. Real redis-server, no Envoy.
func TestCallInlineNeverWaits(t *testing.T) {
	store, _ := redisState(t)
	ctx := context.Background()
	records := deploy.Records{Store: store}
	model := filepath.Join(t.TempDir(), "x.gguf") // no replica reads it
	if err := os.WriteFile(model, []byte("GGUF"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string][]deploy.Status{"stories": {deploy.Initializing, deploy.Ready}, "sleepy": {deploy.Standby}} {
		spec, err := deploy.DecodeSpec([]byte(fmt.Sprintf(`{"base_model": %q}`, model)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := records.Create(ctx, name, spec); err != nil {
			t.Fatal(err)
		}
		for _, st := range path {
			if _, err := records.SetStatus(ctx, name, nil, st, "test"); err != nil {
				t.Fatal(err)
			}
		}
	}
	key, rec := gateway.NewAPIKey("acme", "test", false)
	rec.RPM = 4
	if err := store.PutAPIKey(ctx, rec); err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{Store: store, Deployments: gateway.FromRecords(records, records), Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	headers := func(c *gateway.Call, inline bool) gateway.Verdict {
		return c.Headers(ctx, "POST", "/v1/completions", "Bearer "+key, false, inline)
	}
	body := func(model string) []byte {
		return []byte(fmt.Sprintf(`{"model": %q, "prompt": "x", "max_tokens": 1}`, model))
	}
	call := func() *gateway.Call { return g.NewCall(trace.SpanContext{}, "", "") }

	c := call()
	if v := headers(c, true); !v.Blocked {
		t.Fatalf("inline, with the key not cached: %+v, want Blocked", v)
	}
	if v := headers(c, false); !v.NeedBody {
		t.Fatalf("off Envoy's thread: %+v, want NeedBody", v)
	}
	if v := c.Body(ctx, body("stories"), true); !v.Blocked {
		t.Fatalf("inline, with the deployment not cached: %+v, want Blocked", v)
	}
	v := c.Body(ctx, body("stories/qv-r4"), false)
	if v.Status != 0 || !v.ClearRoute || !slices.Contains(v.Headers, [2]string{xds.HeaderDeployment, "stories"}) ||
		!slices.Contains(v.Headers, [2]string{xds.HeaderAdapter, "qv-r4"}) || !slices.Contains(v.Remove, "authorization") {
		t.Fatalf("routed off Envoy's thread: %+v", v)
	}

	// Both now cached: decided inline, start to end.
	c = call()
	if v := headers(c, true); !v.NeedBody {
		t.Fatalf("inline, key cached: %+v", v)
	}
	if v := c.Body(ctx, body("stories"), true); v.Blocked || v.Status != 0 || !v.ClearRoute {
		t.Fatalf("inline, all cached: %+v", v)
	}
	// A deployment to wake is held, which only a goroutine may do.
	c = call()
	headers(c, true)
	if v := c.Body(ctx, body("sleepy"), true); !v.Blocked {
		t.Fatalf("inline, Standby deployment: %+v, want Blocked", v)
	}
	// An unknown name is looked up once, off the thread; its refusal is
	// cached like a deployment, and then answered inline.
	c = call()
	headers(c, true)
	if v := c.Body(ctx, body("nowhere"), true); !v.Blocked {
		t.Fatalf("inline, unknown deployment not looked up yet: %+v, want Blocked", v)
	}
	if v := c.Body(ctx, body("nowhere"), false); v.Status != 404 {
		t.Fatalf("unknown deployment: %+v, want 404", v)
	}
	c = call()
	headers(c, true)
	if v := c.Body(ctx, body("nowhere"), true); v.Status != 404 {
		t.Fatalf("inline, unknown deployment: %+v, want 404", v)
	}
	if v := call().Headers(ctx, "POST", "/v1/completions", "Bearer graft-nope", false, false); v.Status != 401 {
		t.Fatalf("wrong key: %+v, want 401", v)
	}
	// RPM 4: the two routed requests and the two 404s were charged, the
	// attempts that gave up were not; so the next request is refused, inline.
	c = call()
	headers(c, true)
	if v := c.Body(ctx, body("stories"), true); v.Status != 429 {
		t.Fatalf("fifth request at 4 a minute: %+v, want 429", v)
	}
}
