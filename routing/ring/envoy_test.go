package ring_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graft-ai/graft/routing/ring"
	"github.com/graft-ai/graft/xds"
)

// freeAddr returns a loopback address no one listens on right now.
func freeAddr(t *testing.T) (string, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String(), l.Addr().(*net.TCPAddr).Port
}

// nameServer answers every request with its name.
func nameServer(t *testing.T, name string) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, name) })}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// staticCluster is an Envoy cluster of fixed endpoints with hash keys and
// weights, as JSON bootstrap config.
func staticCluster(name, policy string, extra map[string]any, hosts []ring.Host, ports map[string]int) map[string]any {
	var eps []any
	for _, h := range hosts {
		eps = append(eps, map[string]any{
			"endpoint": map[string]any{"address": map[string]any{"socket_address": map[string]any{
				"address": "127.0.0.1", "port_value": ports[h.Key]}}},
			"load_balancing_weight": max(h.Weight, 1),
			"metadata":              map[string]any{"filter_metadata": map[string]any{"envoy.lb": map[string]any{"hash_key": h.Key}}},
		})
	}
	c := map[string]any{"name": name, "type": "STATIC", "lb_policy": policy, "connect_timeout": "2s",
		"load_assignment": map[string]any{"cluster_name": name, "endpoints": []any{map[string]any{"lb_endpoints": eps}}}}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

// TestEnvoyMaglevAndWeightedRingMatchGo runs a real Envoy from a static
// bootstrap with a Maglev cluster, a weighted Maglev cluster and a weighted
// ring-hash cluster (hosts in an order unlike their keys' sorted order),
// (its ring clamped to 250 points, so hosts get fractional shares of
// points), and requires that every one of 300 route keys reaches the host the Go
// tables predict in each.
func TestEnvoyMaglevAndWeightedRingMatchGo(t *testing.T) {
	bin, err := xds.EnvoyBinary(".")
	if err != nil {
		t.Skipf("no Envoy here (%v); make test installs it", err)
	}
	equal := []ring.Host{{Key: "r-3"}, {Key: "r-0"}, {Key: "r-4"}, {Key: "r-1"}, {Key: "r-2"}}
	weighted := []ring.Host{{Key: "r-3", Weight: 1}, {Key: "r-0", Weight: 2}, {Key: "r-4", Weight: 3}, {Key: "r-1", Weight: 1}, {Key: "r-2", Weight: 5}}
	ports := map[string]int{}
	for _, h := range equal {
		ports[h.Key] = nameServer(t, h.Key)
	}
	cases := []struct {
		cluster string
		hosts   []ring.Host
		table   ring.Table
		config  map[string]any
	}{
		{"maglev", equal, ring.NewMaglev(equal, ring.DefaultMaglevSize), staticCluster("maglev", "MAGLEV", nil, equal, ports)},
		{"maglev-weighted", weighted, ring.NewMaglev(weighted, 10007),
			staticCluster("maglev-weighted", "MAGLEV", map[string]any{"maglev_lb_config": map[string]any{"table_size": 10007}}, weighted, ports)},
		{"ring-weighted", weighted, ring.NewRing(weighted, 250, 250),
			staticCluster("ring-weighted", "RING_HASH", map[string]any{"ring_hash_lb_config": map[string]any{
				"minimum_ring_size": 250, "maximum_ring_size": 250}}, weighted, ports)},
	}
	var routes, clusters []any
	for _, c := range cases {
		routes = append(routes, map[string]any{
			"match": map[string]any{"prefix": "/", "headers": []any{map[string]any{
				"name": "x-cluster", "string_match": map[string]any{"exact": c.cluster}}}},
			"route": map[string]any{"cluster": c.cluster, "hash_policy": []any{map[string]any{
				"header": map[string]any{"header_name": xds.HeaderRouteKey}}}},
		})
		clusters = append(clusters, c.config)
	}
	listen, port := freeAddr(t)
	admin, adminPort := freeAddr(t)
	boot := map[string]any{
		"admin": map[string]any{"address": map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": adminPort}}},
		"static_resources": map[string]any{
			"listeners": []any{map[string]any{
				"address": map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": port}},
				"filter_chains": []any{map[string]any{"filters": []any{map[string]any{
					"name": "envoy.filters.network.http_connection_manager",
					"typed_config": map[string]any{
						"@type":        "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
						"stat_prefix":  "ring",
						"route_config": map[string]any{"virtual_hosts": []any{map[string]any{"name": "all", "domains": []any{"*"}, "routes": routes}}},
						"http_filters": []any{map[string]any{"name": "envoy.filters.http.router",
							"typed_config": map[string]any{"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}},
					},
				}}}},
			}},
			"clusters": clusters,
		},
	}
	b, _ := json.Marshal(boot)
	cfg := filepath.Join(t.TempDir(), "envoy.json")
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	cmd := exec.Command(bin, "-c", cfg, "--disable-hot-restart", "--log-level", "warn", "--concurrency", "1")
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + admin + "/ready")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.TrimSpace(string(body)) == "LIVE" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Envoy not ready: %s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for _, c := range cases {
		counts := map[string]int{}
		for k := range 300 {
			key := fmt.Sprintf("tenant-%d/adapter-%d", k%7, k)
			want := c.hosts[c.table.Pick(ring.HashKey(key), 0)].Key
			req, _ := http.NewRequest("GET", "http://"+listen+"/v1/models", nil)
			req.Header.Set("x-cluster", c.cluster)
			req.Header.Set(xds.HeaderRouteKey, key)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(got) != want {
				t.Fatalf("%s, key %q: Envoy chose %q, Go predicted %s", c.cluster, key, got, want)
			}
			counts[want]++
		}
		if len(counts) != len(c.hosts) {
			t.Fatalf("%s: 300 keys reached only %v", c.cluster, counts)
		}
		t.Logf("%s: 300 keys agreed, spread %v", c.cluster, counts)
	}
}
