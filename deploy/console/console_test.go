package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graft-ai/graft/deploy/console"
	"github.com/graft-ai/graft/deploy/control"
	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/internal/testserver"
)

// consoleOf starts a real control process (its Redis real too, no
// deployments, so no replica starts) and returns its address and store.
func consoleOf(t *testing.T, cfg control.Config) (string, *state.Store) {
	t.Helper()
	rds := testserver.Redis(t)
	cfg.Redis, cfg.Listen = "redis://"+rds.Addr, "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	c, err := control.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); c.Wait() })
	st, err := state.Open(cfg.Redis)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return "http://" + c.Addr(), st
}

func putKey(t *testing.T, st *state.Store, key, tenant string, admin bool) {
	t.Helper()
	if err := st.PutAPIKey(context.Background(), state.APIKey{Hash: state.HashAPIKey(key), Tenant: tenant, Admin: admin,
		Name: "test", Prefix: key[:6], Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, method, url, key, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// errorOf is the message and code of an OpenAI-shaped error body.
func errorOf(t *testing.T, body string) (string, string) {
	t.Helper()
	var e struct {
		Error struct{ Message, Code string }
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Message == "" {
		t.Fatalf("not an error in the OpenAI shape: %s", body)
	}
	return e.Error.Message, e.Error.Code
}

// TestConsoleKeys: pages are shells anyone may load; every piece of data
// needs the management API's key or an admin key stored in Redis, and each
// refusal says why.
func TestConsoleKeys(t *testing.T) {
	base, st := consoleOf(t, control.Config{APIKey: "graft-management-key"})
	putKey(t, st, "graft-admin-key-1", "ops", true)
	putKey(t, st, "graft-tenant-key", "acme", false)

	if code, h, _ := get(t, "GET", base+"/console", "", ""); code != http.StatusMovedPermanently || h.Get("Location") != "/console/" {
		t.Errorf("/console: %d %v", code, h)
	}
	for _, page := range []string{"/console/", "/console/playground", "/console/traces", "/console/deployments/x", "/console/traces/abc"} {
		code, h, body := get(t, "GET", base+page, "", "")
		if code != 200 || !strings.Contains(body, `id="login"`) || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Errorf("page %s: %d %s", page, code, body)
		}
	}
	if code, h, body := get(t, "GET", base+"/console/static/console.js", "", ""); code != 200 || !strings.Contains(body, "sessionStorage") ||
		!strings.Contains(h.Get("Content-Type"), "javascript") {
		t.Errorf("console.js: %d %s", code, h.Get("Content-Type"))
	}
	refusals := []struct {
		key, code, says string
		status          int
	}{
		{"", "invalid_api_key", "no admin key", 401},
		{"graft-wrong", "invalid_api_key", "incorrect admin key", 401},
		{"graft-tenant-key", "not_admin", "not an admin key", 403},
	}
	for _, r := range refusals {
		code, _, body := get(t, "GET", base+"/console/f/deployments", r.key, "")
		msg, c := errorOf(t, body)
		if code != r.status || c != r.code || !strings.Contains(msg, r.says) {
			t.Errorf("key %q: %d %s", r.key, code, body)
		}
	}
	for _, key := range []string{"graft-management-key", "graft-admin-key-1"} {
		if code, _, body := get(t, "GET", base+"/console/api/session", key, ""); code != 200 {
			t.Errorf("key %q refused: %d %s", key, code, body)
		}
	}
}

// TestConsoleData: the management API behind the console answers with its
// own errors; fragments show what it changed; bad input to the console's
// own routes is a clear error.
func TestConsoleData(t *testing.T) {
	base, _ := consoleOf(t, control.Config{APIKey: "k"})
	code, _, body := get(t, "POST", base+"/console/api/v1/deployments", "k", `{"name": "Bad Name", "base_model": "/m.gguf"}`)
	if msg, _ := errorOf(t, body); code != 400 || !strings.Contains(msg, "name") {
		t.Errorf("a bad create: %d %s", code, body)
	}
	model := filepath.Join(t.TempDir(), "m.gguf")
	if err := os.WriteFile(model, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, body = get(t, "POST", base+"/console/api/v1/deployments", "k", fmt.Sprintf(`{"name": "idle", "base_model": %q, "min_replicas": 0}`, model))
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	code, _, body = get(t, "GET", base+"/console/f/deployments", "k", "")
	if code != 200 || !strings.Contains(body, `data-deployment="idle"`) || !strings.Contains(body, `data-url="/console/api/v1/deployments/idle/stop"`) {
		t.Errorf("list fragment: %d %s", code, body)
	}
	if code, _, body := get(t, "GET", base+"/console/f/deployments/idle", "k", ""); code != 200 || !strings.Contains(body, "created") {
		t.Errorf("detail fragment: %d %s", code, body)
	}
	for _, c := range []struct {
		method, path, body, code string
		status                   int
	}{
		{"GET", "/console/f/deployments/nope", "", "deployment_not_found", 404},
		{"GET", "/console/f/deployments/Not_A_Name", "", "deployment_not_found", 404},
		{"GET", "/console/f/traces/not-hex", "", "invalid_trace_id", 400},
		{"GET", "/console/f/traces/abc", "", "tracing_off", 404},
		{"POST", "/console/api/chat", "{", "invalid_request", 400},
		{"POST", "/console/api/chat", `{"model": "nope"}`, "no_endpoint", 503},
		{"POST", "/console/api/v1/deployments/nope/stop", "", "deployment_not_found", 404},
		{"GET", "/console/nowhere", "", "unknown_url", 404},
	} {
		code, _, body := get(t, c.method, base+c.path, "k", c.body)
		if _, got := errorOf(t, body); code != c.status || got != c.code {
			t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, code, body, c.status, c.code)
		}
	}
	if code, _, body := get(t, "GET", base+"/console/f/traces", "k", ""); code != 200 || !strings.Contains(body, "Tracing is off") {
		t.Errorf("traces without Jaeger: %d %s", code, body)
	}
}

// TestConsoleJaegerDown: an unreachable Jaeger is reported, not hidden.
func TestConsoleJaegerDown(t *testing.T) {
	c := console.New(context.Background(), console.Config{APIKey: "k", JaegerURL: "http://127.0.0.1:1"})
	req := httptest.NewRequest("GET", "/console/f/traces", nil)
	req.Header.Set("Authorization", "Bearer k")
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, req)
	if msg, code := errorOf(t, rec.Body.String()); rec.Code != 502 || code != "jaeger_unavailable" || !strings.Contains(msg, "did not answer") {
		t.Errorf("Jaeger down: %d %s", rec.Code, rec.Body.String())
	}
}
