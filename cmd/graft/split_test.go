package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/internal/testgraft"
	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/internal/testserver"
	"github.com/graft-ai/graft/xds"
)

// TestSplitFrontDoor runs the parts of the front door as separate processes,
// as a cluster would: graft serve (a replica), graft gateway (or the module
// Envoy loads), graft xds (writing the bootstrap) and Envoy itself; a
// request with a key made by graft keys is answered through them.
func TestSplitFrontDoor(t *testing.T) {
	t.Run("ext_proc", func(t *testing.T) { splitFrontDoor(t, false) })
	// graft xds --gateway-module: no gateway process; Envoy loads it.
	t.Run("module", func(t *testing.T) { splitFrontDoor(t, true) })
}

func splitFrontDoor(t *testing.T, module bool) {
	model := testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf")
	envoyBin, err := xds.EnvoyBinary(".")
	if err != nil {
		t.Skipf("no Envoy here (%v); make test installs it", err)
	}
	rds := testserver.Redis(t)
	redisURL := "redis://" + rds.Addr
	env := []string{"GRAFT_REDIS=" + redisURL}
	r := graft(t, env, "keys", "create", "--tenant", "acme")
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	key := strings.TrimSpace(r.stdout)
	store, err := state.Open(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	records := deploy.Records{Store: store}
	spec, err := deploy.DecodeSpec([]byte(fmt.Sprintf(`{"base_model": %q}`, model)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := records.Create(ctx, "stories", spec); err != nil {
		t.Fatal(err)
	}
	for _, s := range []deploy.Status{deploy.Initializing, deploy.Ready} {
		if _, err := records.SetStatus(ctx, "stories", nil, s, "test"); err != nil {
			t.Fatal(err)
		}
	}
	pod := freeAddr(t)
	startGraftEnv(t, pod, env, "serve", "--model", model, "--listen", pod, "--deployment", "stories", "--replica-id", "r0",
		"--adapter-root", filepath.Join(filepath.Dir(filepath.Dir(model)), "adapters"))

	gw, ads, front, admin := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	gwMetrics, xdsMetrics := freeAddr(t), freeAddr(t)
	gateway := []string{"--gateway", gw}
	if module {
		gateway = []string{"--gateway-module", testgraft.GatewayModule(t), "--gateway-module-metrics", gwMetrics}
	} else {
		startBackground(t, env, "gateway", "--listen", gw, "--metrics-listen", gwMetrics)
	}
	dir := t.TempDir()
	certs, err := xds.EnsureCerts(dir)
	if err != nil {
		t.Fatal(err)
	}
	boot := filepath.Join(dir, "envoy.json")
	startBackground(t, env, append([]string{"xds", "--listen", ads, "--https-listen", front, "--cert", certs.CertFile, "--key", certs.KeyFile,
		"--bootstrap", boot, "--envoy-admin", admin, "--metrics-listen", xdsMetrics}, gateway...)...)
	waitFile(t, boot)
	envoy := exec.Command(envoyBin, "-c", boot, "--disable-hot-restart", "--log-level", "warn")
	if err := envoy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { envoy.Process.Kill(); envoy.Wait() })

	ca, _ := os.ReadFile(certs.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(time.Minute)
	for {
		req, _ := http.NewRequest("POST", "https://"+front+"/v1/completions", strings.NewReader(`{"model":"stories/all-r8","prompt":"Once","max_tokens":4}`))
		req.Header.Set("authorization", "Bearer "+key)
		resp, err := client.Do(req)
		last := fmt.Sprint(err)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(string(b), `"completion_tokens":4`) {
				// Each part serves its own metrics.
				for addr, want := range map[string]string{gwMetrics: `graft_gateway_requests_total{outcome="routed"}`,
					xdsMetrics: "graft_xds_connected_envoys 1"} {
					r, err := http.Get("http://" + addr + "/metrics")
					if err != nil {
						t.Fatal(err)
					}
					m, _ := io.ReadAll(r.Body)
					r.Body.Close()
					if !strings.Contains(string(m), want) {
						t.Errorf("%s/metrics lacks %q", addr, want)
					}
				}
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("through the split front door: %s", last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startBackground runs a long-lived graft subcommand until the test ends.
func startBackground(t *testing.T, env []string, args ...string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(append(os.Environ(), "GRAFT_TEST_RUN_MAIN=1", testgraft.TempEnv(t)), env...)
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("graft %s:\n%s", args[0], logs.String())
		}
	})
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
			return
		}
	}
	t.Fatalf("%s was not written", path)
}
