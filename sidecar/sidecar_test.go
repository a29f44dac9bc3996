package sidecar_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/engine/server"
	"github.com/graft-ai/graft/internal/testserver"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
	"github.com/graft-ai/graft/sidecar"
)

// TestTwoPodsInOneProcess: two pods, each an engine and a sidecar started
// through the library calls, run side by side in one process against one real
// redis-server. Each answers the reference continuations exactly, and a
// watcher reading Redis through deploy/state sees both replicas and their
// adapters appear, change and disappear, also across a kill -9 and restart of
// redis-server.
func TestTwoPodsInOneProcess(t *testing.T) {
	rs := testserver.Redis(t)
	url := "redis://" + rs.Addr + "/0"
	store, err := state.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := store.Watch(ctx, state.WatchOptions{Resync: 200 * time.Millisecond})
	var pods []*pod
	for i := range 2 {
		pods = append(pods, startPod(t, sidecar.Config{
			Redis: url, Deployment: "demo", ReplicaID: fmt.Sprintf("r%d", i),
		}))
	}
	if pods[0].eng.Addr() == pods[1].eng.Addr() {
		t.Fatalf("both engines listen on %s", pods[0].eng.Addr())
	}
	waitView(t, w, "demo/r0[ready]=", "demo/r1[ready]=")

	adapters := goldenAdapters(t)
	all := strings.Join(adapters, ",")
	checkGolden(t, pods[0].url)
	waitView(t, w, "demo/r0[ready]="+all, "demo/r1[ready]=")
	checkGolden(t, pods[1].url)
	waitView(t, w, "demo/r0[ready]="+all, "demo/r1[ready]="+all)

	unload(t, pods[1], adapters[0])
	rest := strings.Join(adapters[1:], ",")
	waitView(t, w, "demo/r0[ready]="+all, "demo/r1[ready]="+rest)

	rs.Kill()
	rs = testserver.RestartRedis(t, rs)
	waitView(t, w, "demo/r0[ready]="+all, "demo/r1[ready]="+rest)

	pods[0].stop()
	waitView(t, w, "demo/r1[ready]="+rest)
	pods[1].stop()
	waitView(t, w)
}

// goldenAdapters are the adapters the reference continuations use, sorted.
func goldenAdapters(t *testing.T) []string {
	var ids []string
	for _, run := range goldenRuns(t) {
		if run.Adapter != nil && run.Prompt != "" {
			ids = append(ids, *run.Adapter)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// unload asks the pod's engine itself to forget an adapter, as an operator
// would; the replica's residency must follow.
func unload(t *testing.T, p *pod, id string) {
	t.Helper()
	conn, err := sidecar.Dial(p.eng.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := enginev1.NewEngineClient(conn).UnloadAdapter(context.Background(), &enginev1.UnloadAdapterRequest{AdapterId: id}); err != nil {
		t.Fatal(err)
	}
}

// waitView waits until the watcher's view is exactly want (one
// "deployment/id[state]=adapters" per replica, sorted), failing after a
// deadline that only turns a hang into a failure.
func waitView(t *testing.T, w *state.Watcher, want ...string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
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

// TestPromptOverGRPCDefaultLimit: a prompt of more text than grpc-go's default
// 4 MiB message limit reaches the engine, which refuses it for its length
// (400), not the transport (503 with Retry-After).
func TestPromptOverGRPCDefaultLimit(t *testing.T) {
	p := startPod(t, sidecar.Config{})
	prompt := strings.Repeat("Once upon a time ", (4<<20+1<<18)/len("Once upon a time "))
	status, out := post(t, p.url+"/v1/completions", fmt.Sprintf(`{"model": "stories260K", "prompt": %q, "max_tokens": 1}`, prompt))
	if status != 400 || !strings.Contains(out, "maximum context length") {
		t.Fatalf("%d %.300s, want 400 naming the context length", status, out)
	}
	checkGolden(t, p.url)
}

// TestMessageLimitsAgree: the sidecar's client and the engine's server allow
// the same message size; otherwise the smaller one is the real limit.
func TestMessageLimitsAgree(t *testing.T) {
	if sidecar.MaxMessageBytes != server.MaxMessageBytes {
		t.Fatalf("sidecar allows %d bytes, the engine %d", sidecar.MaxMessageBytes, server.MaxMessageBytes)
	}
}
