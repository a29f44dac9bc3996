package control

import (
	"context"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/gateway"
)

func startRedis(t *testing.T, dir string) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not found on PATH; `make test` installs it")
	}
	r, err := StartRedis(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

// TestControlKeepsDeploymentsAcrossRedisRestarts: the Redis graft up starts
// keeps its data in its folder; a control process on the restarted Redis
// finds the deployment as it was, and serves the API, /readyz and /metrics.
func TestControlKeepsDeploymentsAcrossRedisRestarts(t *testing.T) {
	dir := t.TempDir()
	r := startRedis(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	ctl, err := Start(ctx, Config{Redis: r.URL, Listen: "127.0.0.1:0", Tick: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := deploy.DecodeSpec([]byte(`{"base_model": "` + dir + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Manager.Create(ctx, "kept", spec); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Manager.Stop(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := ctl.Wait(); err != nil {
		t.Fatal(err)
	}
	r.Stop()

	r = startRedis(t, dir)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	ctl, err = Start(ctx, Config{Redis: r.URL, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := ctl.Manager.Get(ctx, "kept")
	if err != nil || rec.Status != deploy.Stopped {
		t.Fatalf("after the Redis restart: %+v, %v", rec, err)
	}
	// The gateway graft up runs beside the controllers is scraped with them.
	if _, err := gateway.New(gateway.Config{Store: ctl.store, Deployments: gateway.FromRecords(ctl.Manager.Records, ctl.Manager),
		Registry: ctl.Registry()}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"/readyz": "ok", "/metrics": "graft_gateway_held_requests 0", "/v1/deployments": `"kept"`} {
		resp, err := http.Get("http://" + ctl.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d %.200s", path, resp.StatusCode, b)
		}
	}
}
