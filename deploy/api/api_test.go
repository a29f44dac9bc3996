package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/local"
	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/internal/testserver"
)

// model stands for a base model path in request bodies; newAPI's fill puts
// a file that exists in its place.
const model = "MODEL"

// newAPI serves the API over a real Redis and manager. No test here wakes a
// deployment, so no replica starts.
func newAPI(t *testing.T, key string) (*Client, func(string) []byte) {
	t.Helper()
	dir := t.TempDir()
	fill := func(body string) []byte { return []byte(strings.ReplaceAll(body, model, dir)) }
	srv := testserver.RedisAOF(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	st := state.New(rdb)
	prov, err := local.New(local.Config{Redis: "redis://" + srv.Addr, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	m, err := deploy.NewManager(deploy.ManagerConfig{Store: st, Provider: prov, Tick: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	hs := httptest.NewServer(Handler(Config{Manager: m, APIKey: key}))
	t.Cleanup(func() { hs.Close(); cancel(); <-done; prov.Close() })
	return &Client{BaseURL: hs.URL, APIKey: key}, fill
}

func apiErr(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want an API error, got %v", err)
	}
	return e
}

func waitStatus(t *testing.T, c *Client, name, status string) Deployment {
	t.Helper()
	end := time.Now().Add(10 * time.Second)
	for {
		d, _, err := c.Get(context.Background(), name)
		if err == nil && d.Status == status {
			return d
		}
		if time.Now().After(end) {
			t.Fatalf("%s is %s, want %s (%v)", name, d.Status, status, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCreateGetAndTheFieldsScriptsReadFromGet(t *testing.T) {
	c, fill := newAPI(t, "")
	ctx := context.Background()
	d, _, err := c.Create(ctx, fill(`{"name": "demo", "base_model": "MODEL", "cooldown": "3s", "type": "serverless"}`))
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "demo" || d.Generation != 1 || d.Type != "serverless" || d.Spec.MaxReplicas != 1 {
		t.Fatalf("created %+v", d)
	}
	waitStatus(t, c, "demo", "Standby")
	_, raw, err := c.Get(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"name", "status", "status_reason", "type", "generation", "replicas", "spec", "created_at", "updated_at"} {
		if _, ok := fields[f]; !ok {
			t.Errorf("get lacks %q: %s", f, raw)
		}
	}
	var reps map[string]int
	if json.Unmarshal(fields["replicas"], &reps) != nil || len(reps) != 2 || reps["desired"] != 0 || reps["ready"] != 0 {
		t.Errorf("replicas = %s, want desired and ready, both 0", fields["replicas"])
	}
	if !strings.Contains(string(fields["spec"]), `"cooldown": "3s"`) {
		t.Errorf("spec = %s", fields["spec"])
	}
	if _, _, err := c.Create(ctx, fill(`{"name": "demo", "base_model": "MODEL"}`)); apiErr(t, err).Status != http.StatusConflict {
		t.Errorf("a second create: %v", err)
	}
}

func TestBadInputIs400NamingTheFieldAndCreatesNothing(t *testing.T) {
	c, fill := newAPI(t, "")
	ctx := context.Background()
	for body, field := range map[string]string{
		`{"name": "a", "base_model": "MODEL", "gpus": 2}`:                            "gpus",
		`{"name": "a", "base_model": "MODEL", "min_replicas": -1}`:                   "min_replicas",
		`{"name": "a", "base_model": "MODEL", "max_replicas": -3}`:                   "max_replicas",
		`{"name": "a", "base_model": "MODEL", "min_replicas": 2, "max_replicas": 1}`: "min_replicas",
		`{"name": "a", "base_model": "MODEL/missing.gguf"}`:                          "base_model",
		`{"name": "Not_A_Label", "base_model": "MODEL"}`:                             "name",
		`{"name": "a", "base_model": "MODEL", "adapter_sources": ["MODEL/nothing"]}`: "adapter_sources",
		`{"name": "a"`: "body",
	} {
		_, raw, err := c.Create(ctx, fill(body))
		e := apiErr(t, err)
		if e.Status != http.StatusBadRequest || e.Param == nil || *e.Param != field || e.Type != "invalid_request_error" {
			t.Errorf("create %s: %d %s, want 400 naming %q", body, e.Status, raw, field)
		}
		if !strings.Contains(string(raw), `"error"`) || !strings.Contains(string(raw), `"message"`) {
			t.Errorf("error body is not OpenAI's shape: %s", raw)
		}
	}
	if ds, _, err := c.List(ctx); err != nil || len(ds) != 0 {
		t.Fatalf("refused creates left %d deployments (%v)", len(ds), err)
	}
}

func TestUpdateStopStartDeleteAndEvents(t *testing.T) {
	c, fill := newAPI(t, "")
	ctx := context.Background()
	if _, _, err := c.Create(ctx, fill(`{"name": "d", "base_model": "MODEL"}`)); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, "d", "Standby")
	d, _, err := c.Update(ctx, "d", []byte(`{"max_replicas": 3, "cooldown": "5s"}`))
	if err != nil || d.Generation != 2 || d.Spec.MaxReplicas != 3 {
		t.Fatalf("update: %+v %v", d, err)
	}
	if _, _, err := c.Update(ctx, "d", []byte(`{"min_replicas": 4}`)); apiErr(t, err).Status != 400 {
		t.Fatalf("a patch making min > max: %v", err)
	}
	if d, _, err = c.Action(ctx, "d", "stop"); err != nil || d.Status != "Stopped" {
		t.Fatalf("stop: %+v %v", d, err)
	}
	e := apiErr(t, func() error { _, _, err := c.Action(ctx, "d", "stop"); return err }())
	if e.Status != http.StatusConflict || e.Code == nil || *e.Code != "invalid_transition" {
		t.Fatalf("stopping a Stopped deployment: %+v", e)
	}
	if e := apiErr(t, func() error { _, _, err := c.Action(ctx, "d", "wake"); return err }()); e.Status != http.StatusConflict {
		t.Fatalf("waking a Stopped deployment: %+v", e)
	}
	if d, _, err = c.Action(ctx, "d", "start"); err != nil || d.Status != "Standby" {
		t.Fatalf("start: %+v %v", d, err)
	}
	if d, _, err = c.Action(ctx, "d", "delete"); err != nil || d.Status != "Deleted" {
		t.Fatalf("delete: %+v %v", d, err)
	}
	if ds, _, _ := c.List(ctx); len(ds) != 0 {
		t.Errorf("list shows a deleted deployment: %+v", ds)
	}
	evs, _, err := c.Events(ctx, "d", "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Status)
	}
	want := "Pending Standby Standby Stopped Standby Deleted" // the spec change is an event too
	if strings.Join(got, " ") != want {
		t.Fatalf("events %v, want %s", got, want)
	}
	later, _, err := c.Events(ctx, "d", evs[3].ID)
	if err != nil || len(later) != 2 || later[0].Status != "Standby" {
		t.Fatalf("events after %s: %+v %v", evs[3].ID, later, err)
	}
	for _, bad := range []string{"/v1/deployments/nope", "/v1/deployments/BAD_NAME", "/v1/nothing"} {
		if _, err := c.do(ctx, "GET", bad, nil, nil); apiErr(t, err).Status != http.StatusNotFound {
			t.Errorf("GET %s: %v", bad, err)
		}
	}
	if _, err := c.do(ctx, "GET", "/v1/deployments/d/events?after=$(x)", nil, nil); apiErr(t, err).Status != 400 {
		t.Errorf("a bad event id: %v", err)
	}
}

func TestAPIKey(t *testing.T) {
	c, _ := newAPI(t, "sekrit")
	ctx := context.Background()
	if _, _, err := c.List(ctx); err != nil {
		t.Fatal(err)
	}
	wrong := *c
	wrong.APIKey = "guess"
	if _, _, err := wrong.List(ctx); apiErr(t, err).Status != http.StatusUnauthorized {
		t.Fatalf("a wrong key: %v", err)
	}
}
