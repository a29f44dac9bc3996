package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graft-ai/graft/xds"
)

// TestEnvoyBootstrapResolvesTheXDSHost: a bootstrap written for an xDS
// server named by host carries its address, and Envoy itself accepts it
// (a host name there is what Envoy refuses).
func TestEnvoyBootstrapResolvesTheXDSHost(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bootstrap.json")
	r := graft(t, nil, "envoy-bootstrap", "--xds", "localhost:18000", "--out", out, "--node-id", "envoy-0")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"envoy-0"`, `"portValue":18000`} {
		if !strings.Contains(strings.ReplaceAll(string(b), " ", ""), want) {
			t.Errorf("bootstrap lacks %s: %s", want, b)
		}
	}
	if strings.Contains(string(b), "localhost") {
		t.Errorf("the host name was not resolved: %s", b)
	}
	if r := graft(t, nil, "envoy-bootstrap", "--xds", "no-such-host.invalid:18000", "--out", out); r.code != 2 || !strings.Contains(r.stderr, "--xds") {
		t.Errorf("an unresolvable host: exit %d, %s", r.code, r.stderr)
	}
	envoy, err := xds.EnvoyBinary(".")
	if err != nil {
		t.Skipf("no Envoy here to validate the bootstrap (%v); make test installs it", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if b, err := exec.CommandContext(ctx, envoy, "--mode", "validate", "-c", out).CombinedOutput(); err != nil {
		t.Fatalf("envoy --mode validate: %v\n%s", err, b)
	}
}
