package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/graft-ai/graft/internal/jaeger"
	"github.com/graft-ai/graft/internal/testgraft"
	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/xds"
)

type upInfo struct {
	URL           string `json:"url"`
	APIKey        string `json:"api_key"`
	CAFile        string `json:"ca_file"`
	AdminAPIURL   string `json:"admin_api_url"`
	ControlAPIURL string `json:"control_api_url"`
	Deployment    string `json:"deployment"`
	Redis         string `json:"redis"`
	JaegerURL     string `json:"jaeger_url"`
	ConsoleURL    string `json:"console_url"`
	// GatewayMetricsURL is set when Envoy runs the gateway as its module.
	GatewayMetricsURL string `json:"gateway_metrics_url"`
}

// startUp runs graft up on stateDir (with flags) and waits for the up.json
// it writes.
func startUp(t *testing.T, stateDir, listen string, flags ...string) (*graftProcess, upInfo, *http.Client) {
	t.Helper()
	started := time.Now()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"up", "--listen", listen, "--api-listen", freeAddr(t), "--state-dir", stateDir}, flags...)
	p := &graftProcess{cmd: exec.Command(exe, args...),
		exited: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), "GRAFT_TEST_RUN_MAIN=1", "GRAFT_TESTDATA="+testmodels.Dir(), testgraft.TempEnv(t))
	p.cmd.Stdout, p.cmd.Stderr = &p.logs, &p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	var info upInfo
	for {
		path := filepath.Join(stateDir, "up.json")
		if fi, err := os.Stat(path); err == nil && fi.ModTime().After(started) {
			if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &info) == nil {
				break
			}
		}
		select {
		case err := <-p.exited:
			t.Fatalf("graft up exited: %v\n%s", err, p.logs.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("graft up wrote no up.json:\n%s", p.logs.String())
		}
	}
	ca, err := os.ReadFile(info.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return p, info, &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func call(t *testing.T, c *http.Client, method, url, key, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("authorization", "Bearer "+key)
	req.Header.Set("content-type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestUpServesTheDemoThroughEnvoy: `graft up` with no model runs Redis, the
// control process, the demo deployment "stories" and the front door (a real
// Envoy over HTTPS with the gateway). The official openai client, trusting
// the generated CA, passes its suite through it; the printed example works;
// the management API answers admin keys only; SIGTERM stops everything; a
// second run on the same state dir keeps the key and the deployment.
func TestUpServesTheDemoThroughEnvoy(t *testing.T) {
	t.Run("ext_proc", func(t *testing.T) { upServesTheDemo(t, false) })
	// The same with the gateway loaded into Envoy (--gateway-module).
	t.Run("module", func(t *testing.T) { upServesTheDemo(t, true) })
}

func upServesTheDemo(t *testing.T, module bool) {
	model := testmodels.Path(t, "stories260K", "hf")
	if _, err := xds.EnvoyBinary("."); err != nil {
		t.Skipf("no Envoy here (%v); make test installs it", err)
	}
	stateDir, listen := t.TempDir(), freeAddr(t)
	var flags []string
	if module {
		flags = []string{"--gateway-module", testgraft.GatewayModule(t)}
	}
	up, info, client := startUp(t, stateDir, listen, flags...)
	if info.Deployment != "stories" || !strings.HasPrefix(info.URL, "https://") || info.APIKey == "" {
		t.Fatalf("up.json: %+v", info)
	}
	body := `{"model": "stories/all-r8", "messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": 48}`
	if !strings.Contains(up.logs.String(), body) {
		t.Errorf("graft up did not print the chat example:\n%s", up.logs.String())
	}
	if code, out := call(t, client, "POST", info.URL+"/chat/completions", info.APIKey, body); code != 200 || !strings.Contains(out, `"completion_tokens":48`) {
		t.Fatalf("chat example: %d %s", code, out)
	}
	checkUpTraced(t, info)
	checkUpMetrics(t, info)
	r := graft(t, []string{"GRAFT_REDIS=" + info.Redis}, "keys", "create", "--tenant", "limited", "--rpm", "1")
	if r.code != 0 {
		t.Fatalf("keys create: %s", r.stderr)
	}
	runSDKSuite(t, info, filepath.Join(filepath.Dir(model), "golden.json"), strings.TrimSpace(r.stdout))

	code, out := call(t, client, "GET", info.AdminAPIURL+"/v1/deployments/stories", info.APIKey, "")
	var dep struct{ Status string }
	if code != 200 || json.Unmarshal([]byte(out), &dep) != nil || dep.Status != "Ready" {
		t.Fatalf("management API through the front: %d %s", code, out)
	}
	created := fmt.Sprintf(`{"name": "owned", "base_model": %q, "min_replicas": 0}`, filepath.Join(filepath.Dir(model), "gguf", "stories260K.gguf"))
	if code, out := call(t, client, "POST", info.AdminAPIURL+"/v1/deployments", info.APIKey, created); code != 201 || !strings.Contains(out, `"owner": "default"`) {
		t.Fatalf("create through the front: %d %s", code, out)
	}
	if code, out := call(t, client, "GET", info.AdminAPIURL+"/v1/deployments", "graft-wrong", ""); code != 401 {
		t.Fatalf("management API with a wrong key: %d %s", code, out)
	}
	up.stop(t)

	up2, info2, client2 := startUp(t, stateDir, listen, flags...)
	if info2.APIKey != info.APIKey {
		t.Errorf("a second graft up changed the key")
	}
	if code, out := call(t, client2, "GET", info2.AdminAPIURL+"/v1/deployments/stories/events", info2.APIKey, ""); code != 200 || strings.Count(out, `"Ready"`) < 1 {
		t.Errorf("events after a restart: %d %s", code, out)
	}
	up2.stop(t)
}

func runSDKSuite(t *testing.T, info upInfo, golden, limitedKey string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the openai SDK test needs node and npm")
	}
	if _, err := os.Stat(filepath.Join(sdkDir, "node_modules", "openai")); err != nil {
		t.Skip("the openai npm package is not installed: make sdk-deps")
	}
	test := exec.Command(node, "--test", "sdk.test.mjs")
	test.Dir = sdkDir
	test.Env = append(os.Environ(), "GRAFT_URL="+info.URL, "GRAFT_MODEL="+info.Deployment, "GRAFT_API_KEY="+info.APIKey,
		"GRAFT_ADAPTER_PREFIX="+info.Deployment+"/", "NODE_EXTRA_CA_CERTS="+info.CAFile, "GRAFT_GOLDEN="+golden,
		"GRAFT_LIMITED_KEY="+limitedKey)
	out, err := test.CombinedOutput()
	if err != nil {
		t.Fatalf("openai SDK suite through the front door failed: %v\n%s", err, out)
	}
	t.Logf("openai SDK suite through Envoy:\n%s", lastLines(string(out), 9))
}

// checkUpTraced: with Jaeger built, graft up runs it, names it in up.json,
// and the chat example's trace reaches it from Envoy, the gateway and the
// replica's sidecar and engine (graft serve children).
func checkUpTraced(t *testing.T, info upInfo) {
	t.Helper()
	if _, err := jaeger.Binary(); err != nil {
		if info.JaegerURL != "" {
			t.Errorf("up.json names Jaeger %s, which is not built", info.JaegerURL)
		}
		t.Logf("tracing not checked: %v", err)
		return
	}
	if info.JaegerURL == "" {
		t.Fatal("Jaeger is built but up.json has no jaeger_url")
	}
	want := []string{"envoy", "graft-gateway", "graft-sidecar", "graft-engine"}
	var seen map[string]bool
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		resp, err := http.Get(info.JaegerURL + "/api/traces?limit=50&service=graft-engine")
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Data []struct {
				Processes map[string]struct{ ServiceName string }
			}
		}
		json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		for _, tr := range got.Data {
			seen = map[string]bool{}
			for _, p := range tr.Processes {
				seen[p.ServiceName] = true
			}
			if seen["envoy"] && seen["graft-gateway"] && seen["graft-sidecar"] && seen["graft-engine"] {
				return
			}
		}
	}
	t.Errorf("no trace in graft up's Jaeger spans %v; the last had %v", want, seen)
}

// checkUpMetrics: the control process's /metrics (and the gateway module's,
// when Envoy runs it) shows the gateway, the xDS server and the
// controllers, the chat example counted for its deployment.
func checkUpMetrics(t *testing.T, info upInfo) {
	t.Helper()
	b := scrapeText(t, info.ControlAPIURL+"/metrics")
	if info.GatewayMetricsURL != "" {
		// The gateway counts in Envoy's process, which serves its own.
		b = append(b, scrapeText(t, info.GatewayMetricsURL)...)
	}
	for _, want := range []string{
		`graft_gateway_deployment_requests_total\{adapter="all-r8",deployment="stories",outcome="routed",tenant="[^"]+"\} 1\n`,
		`graft_xds_connected_envoys 1\n`,
		`graft_xds_snapshot_info\{version="[^"]+"\} 1\n`,
		`graft_deployment_replicas\{deployment="stories",kind="ready"\} 1\n`,
	} {
		if !regexp.MustCompile(want).Match(b) {
			t.Errorf("control /metrics lacks %s:\n%s", want, grepLines(string(b), "graft_"))
		}
	}
}

func scrapeText(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
