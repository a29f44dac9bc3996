package xds

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// freeAddr returns a loopback address no one listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// backend is an HTTP server that answers with its own name, standing for a
// replica's sidecar.
func backend(t *testing.T, name string) Replica {
	r, _ := stoppableBackend(t, name)
	return r
}

func stoppableBackend(t *testing.T, name string) (Replica, func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	host, port, _ := splitHostPort(l.Addr().String())
	return Replica{ID: name, Host: host, Port: port}, func() { srv.Close() }
}

type front struct {
	srv    *Server
	envoy  *Envoy
	client *http.Client
	url    string
	in     Input
}

// startFront runs an ADS server and a real Envoy bootstrapped from it, with
// a self-signed certificate the client trusts.
func startFront(t *testing.T, in Input) *front {
	t.Helper()
	bin, err := EnvoyBinary(".")
	if err != nil {
		t.Skipf("no Envoy here (%v); make test installs it", err)
	}
	dir := t.TempDir()
	certs, err := EnsureCerts(dir)
	if err != nil {
		t.Fatal(err)
	}
	in.Listener.Addr, in.Listener.CertFile, in.Listener.KeyFile = freeAddr(t), certs.CertFile, certs.KeyFile
	srv, err := NewServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go srv.Serve(ctx)
	if _, err := srv.Update(ctx, in); err != nil {
		t.Fatal(err)
	}
	env, err := StartEnvoy(bin, dir, BootstrapConfig{NodeID: "test", XDSAddr: srv.Addr(), AdminAddr: freeAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Stop(); cancel() })
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := env.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	ca, _ := os.ReadFile(certs.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true,
	}}
	return &front{srv: srv, envoy: env, client: client, url: "https://" + in.Listener.Addr, in: in}
}

func (f *front) get(t *testing.T, deployment, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", f.url+"/v1/models", nil)
	req.Header.Set(HeaderDeployment, deployment)
	req.Header.Set(HeaderRouteKey, key)
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// update pushes in and waits until Envoy routes by it, as seen by probe.
func (f *front) update(t *testing.T, in Input, probe func() bool) {
	t.Helper()
	in.Listener = f.in.Listener
	f.in = in
	if _, err := f.srv.Update(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !probe() {
		if time.Now().After(deadline) {
			t.Fatalf("Envoy did not apply the update; log: %s", f.envoy.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEnvoyRoutesByDeploymentAndRouteKey runs a real Envoy programmed only
// over ADS: requests reach their deployment's replicas over HTTPS, one route
// key sticks to one replica, keys spread over replicas, an unknown
// deployment gets OpenAI's 404 JSON, and replicas and deployments come and go
// without restarting Envoy.
func TestEnvoyRoutesByDeploymentAndRouteKey(t *testing.T) {
	a0, a1, b0 := backend(t, "a-0"), backend(t, "a-1"), backend(t, "b-0")
	f := startFront(t, Input{Deployments: []Deployment{{Name: "a", Replicas: []Replica{a0, a1}}}})

	seen := map[string]bool{}
	for k := range 40 {
		key := fmt.Sprintf("adapter-%d", k)
		code, first := f.get(t, "a", key)
		if code != 200 {
			t.Fatalf("key %s: %d %s", key, code, first)
		}
		for range 3 {
			if _, again := f.get(t, "a", key); again != first {
				t.Fatalf("key %s went to %q then %q", key, first, again)
			}
		}
		seen[strings.Fields(first)[0]] = true
	}
	if !seen["a-0"] || !seen["a-1"] {
		t.Fatalf("40 route keys all went to %v", seen)
	}

	code, body := f.get(t, "nope", "k")
	if code != 404 || !strings.Contains(body, `"code":"model_not_found"`) {
		t.Fatalf("unknown deployment: %d %s", code, body)
	}

	// Drop a-1, add deployment b: every key of a now reaches a-0, b routes.
	f.update(t, Input{Deployments: []Deployment{{Name: "a", Replicas: []Replica{a0}}, {Name: "b", Replicas: []Replica{b0}}}},
		func() bool { c, b := f.get(t, "b", "x"); return c == 200 && strings.HasPrefix(b, "b-0") })
	for k := range 20 {
		if _, b := f.get(t, "a", fmt.Sprintf("adapter-%d", k)); !strings.HasPrefix(b, "a-0") {
			t.Fatalf("after a-1 left, key %d reached %q", k, b)
		}
	}

	// A deployment with no replica is known (503 from Envoy), not a 404.
	f.update(t, Input{Deployments: []Deployment{{Name: "a"}, {Name: "b", Replicas: []Replica{b0}}}},
		func() bool { c, _ := f.get(t, "a", "x"); return c == 503 })
}

// TestEnvoyDropsADeadReplica: a replica that dies while still listed (its
// heartbeat not yet expired) stops getting requests within 5 s, through
// health checks and retries, and no request fails once it is out.
func TestEnvoyDropsADeadReplica(t *testing.T) {
	a0 := backend(t, "a-0")
	a1, kill := stoppableBackend(t, "a-1")
	f := startFront(t, Input{Deployments: []Deployment{{Name: "a", Replicas: []Replica{a0, a1}}}})
	kill()
	died := time.Now()
	var lastFail time.Time
	for time.Since(died) < 6*time.Second {
		for k := range 10 {
			if code, _ := f.get(t, "a", fmt.Sprintf("adapter-%d", k)); code != 200 {
				lastFail = time.Now()
			}
		}
	}
	if !lastFail.IsZero() && lastFail.Sub(died) > 5*time.Second {
		t.Fatalf("requests still failed %v after the replica died", lastFail.Sub(died))
	}
	if lastFail.IsZero() {
		t.Log("no request failed: retries moved them to the live replica")
	} else {
		t.Logf("last failed request %v after the replica died", lastFail.Sub(died))
	}
}

// TestReplicaNeverSeesNoSettle: the gateway's word to Envoy's usage filter
// is dropped before the request reaches a replica.
func TestReplicaNeverSeesNoSettle(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "no-settle=%q", r.Header.Get(HeaderNoSettle))
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	host, port, _ := splitHostPort(l.Addr().String())
	f := startFront(t, Input{Deployments: []Deployment{{Name: "a", Replicas: []Replica{{ID: "a-0", Host: host, Port: port}}}}})
	req, _ := http.NewRequest("GET", f.url+"/v1/models", nil)
	req.Header.Set(HeaderDeployment, "a")
	req.Header.Set(HeaderNoSettle, "1")
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != `no-settle=""` {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}
