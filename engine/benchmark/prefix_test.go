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
	if r.Off.Cached != 0 || r.On.Cached == 0 || r.On.Computed >= r.Off.Computed {
		t.Fatalf("computed/cached prompt tokens: off %d/%d, on %d/%d", r.Off.Computed, r.Off.Cached, r.On.Computed, r.On.Cached)
	}
	var out bytes.Buffer
	r.Print(&out)
	if !strings.Contains(out.String(), "mean TTFT") || !strings.Contains(out.String(), "same tokens with and without the cache: yes") {
		t.Fatalf("report:\n%s", out.String())
	}
	t.Log("\n" + out.String())
}
