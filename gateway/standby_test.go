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
	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/gateway"
	"github.com/graft-ai/graft/internal/testgraft"
	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/internal/testserver"
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
	model := testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf")
	if _, err := xds.EnvoyBinary("."); err != nil {
		t.Skipf("no Envoy here (%v); make test installs it", err)
	}
	rds := testserver.Redis(t)
	store, err := state.Open("redis://" + rds.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	prov, err := local.New(local.Config{Exe: testgraft.Binary(t), Redis: "redis://" + rds.Addr, Store: store,
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
	p := &platform{store: store, records: m.Records}
	waitStatus(t, m.Records, "sleepy", deploy.Standby)
	p.startFront(t, ctx, gateway.FromRecords(m.Records, m), nil)
	p.key = p.newKey(t, "acme")

	run := goldenRuns(t)[0]
	for _, r := range goldenRuns(t) {
		if r.Prompt != "" && r.Adapter != nil {
			run = r
			break
		}
	}
	modelName := "sleepy/" + *run.Adapter
	code, out := p.post(t, "/v1/completions", p.key,
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
