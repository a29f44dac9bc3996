package local

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/engine/server"
	"github.com/graft-ai/graft/internal/testgraft"
	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/internal/testserver"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testgraft.Cleanup()
	os.Exit(code)
}

const testDeadline = 60 * time.Second

func newProvider(t *testing.T, ready time.Duration) (*Provider, *state.Store) {
	t.Helper()
	p, st, _ := newProviderTemp(t, ready)
	return p, st
}

// newProviderTemp is newProvider that also returns the replicas' TempDir.
func newProviderTemp(t *testing.T, ready time.Duration) (*Provider, *state.Store, string) {
	t.Helper()
	srv := testserver.Redis(t)
	tmp := testgraft.TempDir(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	st := state.New(rdb)
	p, err := New(Config{Exe: testgraft.Binary(t), Redis: "redis://" + srv.Addr + "/0", Store: st,
		AdapterCache: t.TempDir(), ReadyTimeout: ready, HeartbeatTTL: 2 * time.Second, Drain: 5 * time.Second, TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, st, tmp
}

// waitPhase waits until the one replica of dep is in phase and returns it.
func waitPhase(t *testing.T, p *Provider, dep string, phase deploy.Phase) deploy.Replica {
	t.Helper()
	deadline := time.After(testDeadline)
	for {
		ch := p.Watch()
		rs := p.List(dep)
		if len(rs) == 1 && rs[0].Phase == phase {
			return rs[0]
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("replicas of %s: %+v, want one %s", dep, rs, phase)
		}
	}
}

func storiesSpec(t *testing.T) deploy.Spec {
	model := testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf")
	adapters := filepath.Join(filepath.Dir(filepath.Dir(model)), "adapters")
	s, err := deploy.DecodeSpec([]byte(`{"base_model": "` + model + `", "adapter_sources": ["` + adapters + `"],
		"preloaded_adapters": ["all-r8"], "threads": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestReplicaGoesLiveAndStops(t *testing.T) {
	t.Parallel()
	p, st := newProvider(t, testDeadline)
	ctx := context.Background()
	if err := p.Start(ctx, deploy.ReplicaSpec{Deployment: "d", ID: "r1", Generation: 1, Spec: storiesSpec(t)}); err != nil {
		t.Fatal(err)
	}
	r := waitPhase(t, p, "d", deploy.PhaseLive)
	hb, ok, err := st.GetReplica(ctx, "d", "r1")
	if err != nil || !ok || hb.Addr != r.Addr {
		t.Fatalf("heartbeat of a live replica: %+v %v %v", hb, ok, err)
	}
	// The preloaded adapter is resident before the replica counts as live.
	if len(hb.Adapters) != 1 || hb.Adapters[0] != "all-r8" {
		t.Errorf("resident adapters %v, want [all-r8]", hb.Adapters)
	}
	resp, err := http.Post("http://"+r.Addr+"/v1/completions", "application/json",
		strings.NewReader(`{"model": "d", "prompt": "Once", "max_tokens": 3}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"completion_tokens":3`) {
		t.Fatalf("completion on the replica under the deployment's name: %d %s", resp.StatusCode, body)
	}
	pid := p.PIDs("d")["r1"]
	if err := p.Stop(ctx, "d", "r1"); err != nil {
		t.Fatal(err)
	}
	waitGone(t, p, "d")
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("replica process %d still runs after Stop", pid)
	}
	if _, ok, _ := st.GetReplica(ctx, "d", "r1"); ok {
		t.Error("a stopped replica left its heartbeat")
	}
}

func waitGone(t *testing.T, p *Provider, dep string) {
	t.Helper()
	deadline := time.After(testDeadline)
	for {
		ch := p.Watch()
		if rs := p.List(dep); len(rs) == 0 {
			return
		} else {
			select {
			case <-ch:
			case <-deadline:
				t.Fatalf("replicas still listed: %+v", rs)
			}
		}
	}
}

// TestBadModelFailsWithItsOwnError: a model the engine cannot load fails the
// replica with the engine's error text, the same the library returns.
func TestBadModelFailsWithItsOwnError(t *testing.T) {
	t.Parallel()
	p, _ := newProvider(t, testDeadline)
	bad := filepath.Join(t.TempDir(), "broken.gguf")
	if err := os.WriteFile(bad, []byte("GGUF but not really a model file"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, want := server.Start(context.Background(), server.Options{Model: bad})
	if want == nil {
		t.Fatal("the engine loaded a broken file")
	}
	s := storiesSpec(t)
	s.BaseModel = bad
	if err := p.Start(context.Background(), deploy.ReplicaSpec{Deployment: "d", ID: "r1", Spec: s}); err != nil {
		t.Fatal(err)
	}
	r := waitPhase(t, p, "d", deploy.PhaseFailed)
	if !strings.Contains(r.Reason, want.Error()) {
		t.Fatalf("reason %q does not carry the engine's error %q", r.Reason, want)
	}
	p.Stop(context.Background(), "d", "r1")
	if rs := p.List("d"); len(rs) != 0 {
		t.Fatalf("Stop did not forget a failed replica: %+v", rs)
	}
}

// TestKilledReplicaIsReportedExited also checks that the replica's private
// TMPDIR, where its engine made a socket folder it could not remove, goes
// with it.
func TestKilledReplicaIsReportedExited(t *testing.T) {
	t.Parallel()
	p, _, tmp := newProviderTemp(t, testDeadline)
	if err := p.Start(context.Background(), deploy.ReplicaSpec{Deployment: "d", ID: "r1", Spec: storiesSpec(t)}); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, p, "d", deploy.PhaseLive)
	if names := folders(t, tmp); len(names) != 1 {
		t.Fatalf("a live replica's temporary folders: %v, want its own", names)
	}
	syscall.Kill(p.PIDs("d")["r1"], syscall.SIGKILL)
	r := waitPhase(t, p, "d", deploy.PhaseExited)
	if !strings.Contains(r.Reason, "signal 9") {
		t.Fatalf("reason %q does not say it was killed", r.Reason)
	}
	if names := folders(t, tmp); len(names) != 0 {
		t.Fatalf("a killed replica left %v in its TempDir", names)
	}
}

// folders lists the folders in dir: the replicas' TMPDIRs, not the lock
// file of dir itself (a testgraft.TempDir).
func folders(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// TestReadyDeadline: a replica not live within ReadyTimeout is killed and
// failed, never left hanging.
func TestReadyDeadline(t *testing.T) {
	t.Parallel()
	p, _ := newProvider(t, 50*time.Millisecond)
	if err := p.Start(context.Background(), deploy.ReplicaSpec{Deployment: "d", ID: "r1", Spec: storiesSpec(t)}); err != nil {
		t.Fatal(err)
	}
	r := waitPhase(t, p, "d", deploy.PhaseFailed)
	if !strings.HasPrefix(r.Reason, "not ready after 50ms") {
		t.Fatalf("reason %q", r.Reason)
	}
}

// TestHungReplicaIsKilled: a live replica that stops answering (SIGSTOP) is
// killed after Unhealthy and reported exited, so its controller replaces it.
func TestHungReplicaIsKilled(t *testing.T) {
	t.Parallel()
	p, _ := newProvider(t, testDeadline)
	p.cfg.Unhealthy = time.Second
	if err := p.Start(context.Background(), deploy.ReplicaSpec{Deployment: "d", ID: "r1", Spec: storiesSpec(t)}); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, p, "d", deploy.PhaseLive)
	pid := p.PIDs("d")["r1"]
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	r := waitPhase(t, p, "d", deploy.PhaseExited)
	if !strings.Contains(r.Reason, "not ready for 1s, killed") {
		t.Fatalf("reason %q", r.Reason)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Fatalf("the hung replica (pid %d) still exists", pid)
	}
}
