package sidecar_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/graft-ai/graft/engine/server"
	"github.com/graft-ai/graft/internal/testserver"
	"github.com/graft-ai/graft/sidecar"
)

// TestTwoPodsInOneProcess: two pods, each an engine and a sidecar started
// through the library calls, run side by side in one process against one
// real redis-server, and each answers the reference continuations exactly.
func TestTwoPodsInOneProcess(t *testing.T) {
	rs := testserver.Redis(t)
	var pods []*pod
	for i := range 2 {
		pods = append(pods, startPod(t, sidecar.Config{
			Redis: "redis://" + rs.Addr + "/0", Deployment: "demo", ReplicaID: fmt.Sprintf("r%d", i),
		}))
	}
	if pods[0].eng.Addr() == pods[1].eng.Addr() {
		t.Fatalf("both engines listen on %s", pods[0].eng.Addr())
	}
	for _, p := range pods {
		checkGolden(t, p.url)
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
