package replica

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/internal/testengine/served"
	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/internal/testserver"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// testDeadline turns a hang into a failure; it is not a timing assertion.
const testDeadline = 30 * time.Second

// realEngine serves stories260K over gRPC on a unix socket. stop ends the
// server, after which every call fails as an engine that died would.
type realEngine struct {
	client enginev1.EngineClient
	stop   func()
}

func startEngine(t *testing.T) realEngine {
	t.Helper()
	conn, stop := served.Stories(t, engine.Config{MaxNumSeqs: 8})
	return realEngine{client: enginev1.NewEngineClient(conn), stop: stop}
}

func loadAdapter(t *testing.T, ec enginev1.EngineClient, name string) {
	t.Helper()
	path := testmodels.Path(t, "stories260K", "adapters", name)
	if _, err := ec.LoadAdapter(context.Background(), &enginev1.LoadAdapterRequest{AdapterId: name, Path: path}); err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
}

func unloadAdapter(t *testing.T, ec enginev1.EngineClient, name string) {
	t.Helper()
	if _, err := ec.UnloadAdapter(context.Background(), &enginev1.UnloadAdapterRequest{AdapterId: name}); err != nil {
		t.Fatalf("unload %s: %v", name, err)
	}
}

func startReporter(t *testing.T, cfg Config) *Reporter {
	t.Helper()
	r, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

func newStore(t *testing.T, addr string) *state.Store {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	return state.New(rdb)
}

// scrape reads reg the way Prometheus does, keeping the vllm: lines.
func scrape(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "vllm:") {
			out = append(out, l)
		}
	}
	return out
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func watch(t *testing.T, s *state.Store) *state.Watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	// A resync period longer than any test: the change messages must do.
	w := s.Watch(ctx, state.WatchOptions{Resync: time.Hour})
	t.Cleanup(func() { cancel(); <-w.Done() })
	return w
}

// waitView waits on w.Changed until the view, as "deployment/id[state]=adapters"
// lines, is want (nothing: empty).
func waitView(t *testing.T, w *state.Watcher, want ...string) {
	t.Helper()
	deadline := time.After(testDeadline)
	for {
		ch := w.Changed()
		var got []string
		for _, r := range w.Snapshot() {
			got = append(got, fmt.Sprintf("%s/%s[%s]=%s", r.Deployment, r.ID, r.State, strings.Join(r.Adapters, ",")))
		}
		if slices.Equal(got, want) {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("view is %q, want %q", got, want)
		}
	}
}

// redisServer is testserver.Redis under a shorter name in the tests below.
var redisServer = testserver.Redis
