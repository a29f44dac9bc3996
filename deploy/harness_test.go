package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/local"
	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/internal/testgraft"
	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/internal/testserver"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testgraft.Cleanup()
	os.Exit(code)
}

// deadline bounds every wait: a replica of stories260K is live in seconds,
// but these machines are shared.
const deadline = 90 * time.Second

// platform is a control process in the test: a real redis-server (with its
// append-only file), the local provider starting real graft replicas, and a
// manager running the controllers.
type platform struct {
	t     *testing.T
	redis *testserver.Process
	store *state.Store
	prov  *local.Provider
	m     *deploy.Manager
	reg   *prometheus.Registry
	stop  func()
}

func newPlatform(t *testing.T) *platform {
	t.Helper()
	srv := testserver.RedisAOF(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	st := state.New(rdb)
	prov, err := local.New(local.Config{Exe: testgraft.Binary(t), Redis: "redis://" + srv.Addr + "/0", Store: st,
		AdapterCache: t.TempDir(), ReadyTimeout: deadline, HeartbeatTTL: 2 * time.Second, Drain: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := deploy.NewManager(deploy.ManagerConfig{Store: st, Provider: prov, Tick: 200 * time.Millisecond,
		Resync: time.Second, BackoffMax: 2 * time.Second, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	p := &platform{t: t, redis: srv, store: st, prov: prov, m: m, reg: reg}
	p.stop = func() { cancel(); <-done; prov.Close() }
	t.Cleanup(p.stop)
	return p
}

// spec decodes a stories260K spec with extra JSON fields.
func storiesSpec(t *testing.T, extra string) deploy.Spec {
	t.Helper()
	model := testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf")
	adapters := filepath.Join(filepath.Dir(filepath.Dir(model)), "adapters")
	js := fmt.Sprintf(`{"base_model": %q, "adapter_sources": [%q], "threads": 1, "cooldown": "2s"%s}`, model, adapters, extra)
	s, err := deploy.DecodeSpec([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitStatus waits until the deployment has status.
func (p *platform) waitStatus(name string, want deploy.Status) deploy.Record {
	p.t.Helper()
	end := time.Now().Add(deadline)
	for {
		r, err := p.m.Get(context.Background(), name)
		if err == nil && r.Status == want {
			return r
		}
		if time.Now().After(end) {
			p.t.Fatalf("%s is %s (%q), want %s (err %v)", name, r.Status, r.StatusReason, want, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitReplicas waits until the provider lists n replicas in phase (and no
// others).
func (p *platform) waitReplicas(name string, n int, phase deploy.Phase) []deploy.Replica {
	p.t.Helper()
	end := time.Now().Add(deadline)
	for {
		rs := p.prov.List(name)
		ok := len(rs) == n
		for _, r := range rs {
			ok = ok && r.Phase == phase
		}
		if ok {
			return rs
		}
		if time.Now().After(end) {
			p.t.Fatalf("%s replicas: %+v, want %d %s", name, rs, n, phase)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// history is the deployment's event stream as "Status" entries.
func (p *platform) history(name string) string {
	p.t.Helper()
	evs, err := p.m.Events(context.Background(), name, "", 1000)
	if err != nil {
		p.t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		if e.Status != e.Previous {
			out = append(out, string(e.Status))
		}
	}
	return strings.Join(out, " ")
}

// counter reads a counter of the manager's metrics by its labels.
// waitGauge waits until the one series of name with labels reads want.
func (p *platform) waitGauge(name string, labels map[string]string, want float64) {
	p.t.Helper()
	p.waitMetric(name, labels, want, func(m *dto.Metric) float64 { return m.GetGauge().GetValue() })
}

// waitCounter waits for a counter the controller bumps just after the
// state change a test has seen in Redis.
func (p *platform) waitCounter(name string, labels map[string]string, want float64) {
	p.t.Helper()
	p.waitMetric(name, labels, want, func(m *dto.Metric) float64 { return m.GetCounter().GetValue() })
}

func (p *platform) waitMetric(name string, labels map[string]string, want float64, value func(*dto.Metric) float64) {
	p.t.Helper()
	end := time.Now().Add(deadline)
	for {
		got := p.sum(name, labels, value)
		if got == want {
			return
		}
		if time.Now().After(end) {
			p.t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *platform) counter(name string, labels map[string]string) float64 {
	return p.sum(name, labels, func(m *dto.Metric) float64 { return m.GetCounter().GetValue() })
}

func (p *platform) sum(name string, labels map[string]string, value func(*dto.Metric) float64) float64 {
	p.t.Helper()
	mfs, err := p.reg.Gather()
	if err != nil {
		p.t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue metrics
				}
			}
			sum += value(m)
		}
	}
	return sum
}

// waitExited waits until a replica's process is gone.
func waitExited(t *testing.T, id string, pid int) {
	t.Helper()
	end := time.Now().Add(deadline)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(end) {
			t.Fatalf("replica %s (pid %d) still runs", id, pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
