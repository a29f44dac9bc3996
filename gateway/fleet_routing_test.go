package gateway_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/routing/ring"
	"github.com/graft-ai/graft/routing/spread"
)

// TestFleetRoutingMatchesSimulator: on three real pods behind the real
// gateway and Envoy, with 64 adapters, every request lands on the replica
// that the simulator's routing (routing/spread's route key on routing/ring's
// ring of the replica ids) predicts. Requests go one at a time, so the
// bounded-load walk never starts and the ring alone decides.
func TestFleetRoutingMatchesSimulator(t *testing.T) {
	src := testmodels.Path(t, "stories260K", "adapters")
	root := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range 64 {
		e := entries[i%len(entries)]
		name := fmt.Sprintf("%s-%02d", e.Name(), i)
		if err := os.CopyFS(filepath.Join(root, name), os.DirFS(filepath.Join(src, e.Name()))); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	p := startPlatform(t, platformOpts{replicas: 3, adapters: root})
	hosts := []ring.Host{{Key: "r0"}, {Key: "r1"}, {Key: "r2"}}
	r := ring.NewRing(hosts, ring.DefaultMinRingSize, ring.DefaultMaxRingSize)
	keys := spread.New(8, 8)
	perReplica := map[string]int{}
	for round := range 2 {
		for _, a := range names {
			want := hosts[r.Pick(ring.HashKey(keys.RouteKey(a)), 0)].Key
			code, out, got := p.postFrom(t, "/v1/completions", p.key,
				fmt.Sprintf(`{"model":"stories/%s","prompt":"Once","max_tokens":1}`, a))
			if code != 200 {
				t.Fatalf("%s: %d %s", a, code, out)
			}
			if got != want {
				t.Fatalf("round %d, adapter %s: served by %q, the simulator's routing says %s", round, a, got, want)
			}
			perReplica[got]++
		}
	}
	if len(perReplica) != 3 {
		t.Fatalf("64 adapters reached only %v", perReplica)
	}
	t.Logf("128 requests, each on its predicted replica: %v", perReplica)
}
