package main

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/internal/testserver"
)

// TestServePublishesResidency: a pod started with --redis keeps a heartbeat hash
// and its loaded adapters in a real redis-server; when the pod is killed without
// a chance to clean up, both keys expire.
func TestServePublishesResidency(t *testing.T) {
	model := testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf")
	rs := testserver.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	addr := freeAddr(t)
	serve := startGraft(t, addr, "serve", "--model", model, "--listen", addr,
		"--adapter-root", filepath.Join(filepath.Dir(filepath.Dir(model)), "adapters"),
		"--adapter-cache", t.TempDir(), "--redis", "redis://"+rs.Addr+"/0",
		"--deployment", "demo", "--replica-id", "r1", "--heartbeat-ttl", "2s")

	ctx := context.Background()
	hb, rk := state.ReplicaKey("demo", "r1"), state.ResidencyKey("demo", "r1")
	waitFor(t, "heartbeat hash", func() bool {
		return rdb.HGet(ctx, hb, "addr").Val() == addr
	})
	for _, a := range []string{"qv-r4", "mlp-r16"} {
		resp, err := http.Post("http://"+addr+"/v1/completions", "application/json",
			strings.NewReader(`{"model": "`+a+`", "prompt": "Once", "max_tokens": 2}`))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("completion on %s: %v %v", a, resp.Status, err)
		}
		resp.Body.Close()
	}
	waitFor(t, "residency set", func() bool {
		m, _ := rdb.SMembers(ctx, rk).Result()
		slices.Sort(m)
		return slices.Equal(m, []string{"mlp-r16", "qv-r4"})
	})
	if ttl := rdb.TTL(ctx, hb).Val(); ttl <= 0 || ttl > 2*time.Second {
		t.Errorf("heartbeat TTL %v, want (0, 2s]", ttl)
	}
	_ = serve.cmd.Process.Signal(syscall.SIGKILL) // no cleanup: the TTL must expire the keys
	<-serve.exited
	waitFor(t, "keys to expire after the pod died", func() bool {
		return rdb.Exists(ctx, hb, rk).Val() == 0
	})
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
