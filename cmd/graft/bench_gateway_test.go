package main

import (
	"regexp"
	"testing"

	"github.com/graft-ai/graft/internal/testgraft"
	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/xds"
)

// TestBenchGateway runs graft bench gateway briefly with the pod in a
// process of its own ("graft serve", as clients find pods), with the
// gateway over ext_proc and loaded into Envoy: both paths answer every
// request and the table has its row. (No timing is asserted.)
func TestBenchGateway(t *testing.T) {
	testmodels.Path(t, "stories260K")
	if _, err := xds.EnvoyBinary("."); err != nil {
		t.Skipf("no Envoy here (%v); make test installs it", err)
	}
	for name, flags := range map[string][]string{"ext_proc": nil, "module": {"--gateway-module", ""}} {
		t.Run(name, func(t *testing.T) {
			want := "an ext_proc service"
			if flags != nil {
				flags[1] = testgraft.GatewayModule(t)
				want = "loaded into Envoy"
			}
			r := graft(t, nil, append([]string{"bench", "gateway", "--rates", "20", "--duration", "1s"}, flags...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			t.Log(r.stdout)
			if !regexp.MustCompile(`the pod runs in its own process; the gateway is ` + want).MatchString(r.stdout) {
				t.Errorf("the pod did not run in its own process, or the gateway not as %s: %s", want, r.stdout)
			}
			if !regexp.MustCompile(`(?m)^\s+20\s+\d+\s+[\d.]+ ms\s+[\d.]+ ms\s+[\d.]+ ms\s+[\d.]+ ms\s+-?[\d.]+ ms\s+-?[\d.]+ ms\s+0\s*$`).MatchString(r.stdout) {
				t.Errorf("no error-free row at 20 req/s: %s", r.stdout)
			}
		})
	}
}
