package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimRouting runs the real binary on a small matrix: a row per policy
// and scenario, and every chart written; bad flags are refused.
func TestSimRouting(t *testing.T) {
	out := t.TempDir()
	r := graft(t, nil, "sim", "routing", "--fleets", "4", "--adapters", "50,200", "--duration", "600", "--warmup", "100",
		"--policies", "rr,least", "--policies", "gie:1,1,2,50 graft:0.05,4,200", "--arrivals", "both", "--out", out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, p := range []string{"round-robin", "least-loaded", "gie(q1,kv1,lora2,50ms)", "graft(hot0.05,k4,bal200)"} {
		if n := strings.Count(r.stdout, p); n != 4 {
			t.Errorf("%s: %d rows, want 4 (2 adapter counts × 2 arrival kinds)", p, n)
		}
	}
	for _, f := range []string{"results.txt", "ttft-p99.png", "ttft-p99.svg", "loads-per-1k.svg", "imbalance.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	for _, bad := range [][]string{{"--policies", "random"}, {"--arrivals", "sometimes"}, {"--fleets", "0"}, {"--load", "0"}} {
		if r := graft(t, nil, append([]string{"sim", "routing", "--fleets", "2", "--adapters", "10", "--duration", "60", "--warmup", "10"}, bad...)...); r.code == 0 {
			t.Errorf("%v accepted", bad)
		}
	}
}
