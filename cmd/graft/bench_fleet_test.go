package main

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/xds"
)

// TestBenchFleet runs graft bench fleet on three real pods behind Envoy:
// every request is served on its adapter's ring home, and the simulator,
// replaying the same requests, routes each replica exactly its share and
// completes them at the fleet's rate (within 10%).
func TestBenchFleet(t *testing.T) {
	testmodels.Path(t, "stories260K")
	if _, err := xds.EnvoyBinary("."); err != nil {
		t.Skipf("no Envoy here (%v); make test installs it", err)
	}
	r := graft(t, nil, "bench", "fleet", "--requests", "60", "--rate", "5", "--adapters", "16")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !regexp.MustCompile(`60 of 60 requests served on their adapter's ring home`).MatchString(r.stderr) {
		t.Errorf("requests left their ring home: %s", r.stderr)
	}
	shares := regexp.MustCompile(`share of r\d\s+(\S+)\s+(\S+)`).FindAllStringSubmatch(r.stdout, -1)
	if len(shares) != 3 {
		t.Fatalf("want 3 share rows: %s", r.stdout)
	}
	for _, s := range shares {
		if s[1] != s[2] {
			t.Errorf("share: fleet %s, simulator %s", s[1], s[2])
		}
	}
	thr := regexp.MustCompile(`throughput \(req/s\)\s+(\S+)\s+(\S+)`).FindStringSubmatch(r.stdout)
	if thr == nil {
		t.Fatalf("no throughput row: %s", r.stdout)
	}
	fleet, _ := strconv.ParseFloat(thr[1], 64)
	simulated, _ := strconv.ParseFloat(thr[2], 64)
	if fleet <= 0 || simulated < 0.9*fleet || simulated > 1.1*fleet {
		t.Errorf("throughput: fleet %v, simulator %v", fleet, simulated)
	}
	if !regexp.MustCompile(`adapter slot loads per 1000 requests\s+\d`).MatchString(r.stdout) {
		t.Errorf("no fleet adapter load count: %s", r.stdout)
	}
	if r := graft(t, nil, "bench", "fleet", "--rate", "0"); r.code == 0 {
		t.Error("--rate 0 accepted")
	}
}
