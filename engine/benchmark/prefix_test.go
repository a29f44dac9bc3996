package benchmark

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/graft-ai/graft/engine/randmodel"
)

// TestSharedPrefixSmall runs the shared-prefix comparison on a tiny model: the
// cache takes the system prompt's blocks for all but the first request, and
// the tokens do not change. Timings are printed, never checked.
func TestSharedPrefixSmall(t *testing.T) {
	spec := randmodel.Spec{Arch: randmodel.Llama, Dim: 32, Layers: 2, Heads: 4, KVHeads: 2, FFN: 64,
		Vocab: 320, MaxPositions: 1024, RopeTheta: 10000, Seed: 3}
	r, err := RunSharedPrefix(context.Background(), Options{Spec: &spec, Threads: 1, Dir: t.TempDir()}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Same {
		t.Fatal("the prefix cache changed the generated tokens")
	}
	// Cold, the first request computes the system prompt and the other two
	// take its 62 full blocks; warm, all three do.
	if r.Off.Cached != 0 || r.Cold.Cached != 2*992 || r.On.Cached != 3*992 {
		t.Fatalf("cached prompt tokens: off %d, cold %d, warm %d", r.Off.Cached, r.Cold.Cached, r.On.Cached)
	}
	var out bytes.Buffer
	r.Print(&out)
	if !strings.Contains(out.String(), "on, cold") || !strings.Contains(out.String(), "same tokens with and without the cache: yes") {
		t.Fatalf("report:\n%s", out.String())
	}
	t.Log("\n" + out.String())
}
