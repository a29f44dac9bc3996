package xds

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/graft-ai/graft/routing/ring"
)

// ringHosts is how the deployment's endpoints reach Envoy's load balancer:
// in EDS order, hash key = replica id.
func ringHosts(rs []Replica) []ring.Host {
	var hs []ring.Host
	for _, r := range rs {
		hs = append(hs, ring.Host{Key: r.ID})
	}
	return hs
}

// waitHealthy waits until Envoy's admin reports all n hosts of the cluster
// healthy: before that its ring holds only some of them.
func waitHealthy(t *testing.T, f *front, cluster string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for {
		resp, err := http.Get("http://" + f.envoy.adminAddr + "/clusters")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			healthy := 0
			for _, line := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(line, cluster+"::") && strings.HasSuffix(line, "::health_flags::healthy") {
					healthy++
				}
			}
			if healthy == n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster %s never had %d healthy hosts; admin /clusters: %.3000s", cluster, n, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEnvoyRingMatchesGo: for 500 route keys, the replica the real Envoy
// picks (each backend answers its name) is the one routing/ring predicts
// from the cluster config xds sends, at 3 and 7 replicas.
func TestEnvoyRingMatchesGo(t *testing.T) {
	cl := deploymentCluster("a")
	minSize := cl.GetRingHashLbConfig().GetMinimumRingSize().GetValue()
	var reps []Replica
	for i := range 7 {
		reps = append(reps, backend(t, fmt.Sprintf("replica-%d", i)))
	}
	f := startFront(t, Input{Deployments: []Deployment{{Name: "a", Replicas: reps[:3]}}})
	for _, n := range []int{3, 7} {
		if n != 3 {
			f.update(t, Input{Deployments: []Deployment{{Name: "a", Replicas: reps[:n]}}}, func() bool { return true })
		}
		waitHealthy(t, f, ClusterName("a"), n)
		hs := ringHosts(reps[:n])
		r := ring.NewRing(hs, minSize, ring.DefaultMaxRingSize)
		miss := 0
		for k := range 500 {
			key := fmt.Sprintf("org-%d/adapter-%d#%d", k%13, k, k%4)
			want := hs[r.Pick(ring.HashKey(key), 0)].Key
			code, body := f.get(t, "a", key)
			if code != 200 {
				t.Fatalf("key %q: %d %s", key, code, body)
			}
			if got := strings.Fields(body)[0]; got != want {
				miss++
				if miss < 5 {
					t.Errorf("%d replicas, key %q: Envoy chose %s, Go predicted %s", n, key, got, want)
				}
			}
		}
		if miss > 0 {
			t.Fatalf("%d replicas: %d of 500 keys disagreed", n, miss)
		}
	}
}

// holdingBackend answers /hold only when released, reporting each arrival,
// so the test knows exactly how many requests each replica has in flight.
func holdingBackend(t *testing.T, name string, arrivals chan<- string, release <-chan struct{}) Replica {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			arrivals <- name
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		fmt.Fprint(w, name)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	host, port, _ := splitHostPort(l.Addr().String())
	return Replica{ID: name, Host: host, Port: port}
}

// TestEnvoyBoundedLoadMatchesGo holds requests open, one at a time, most on
// one hot key: once its replica passes hash_balance_factor's bound, Envoy
// walks to others in its hash-seeded order, and every choice, walk
// included, must be the one routing/ring predicts from the in-flight counts.
func TestEnvoyBoundedLoadMatchesGo(t *testing.T) {
	cl := deploymentCluster("a")
	minSize := cl.GetRingHashLbConfig().GetMinimumRingSize().GetValue()
	factor := cl.GetCommonLbConfig().GetConsistentHashingLbConfig().GetHashBalanceFactor().GetValue()
	arrivals, release := make(chan string, 64), make(chan struct{})
	var reps []Replica
	for i := range 5 {
		reps = append(reps, holdingBackend(t, fmt.Sprintf("replica-%d", i), arrivals, release))
	}
	f := startFront(t, Input{Deployments: []Deployment{{Name: "a", Replicas: reps}}})
	defer close(release)
	waitHealthy(t, f, ClusterName("a"), len(reps))
	hs := ringHosts(reps)
	b := ring.NewBounded(ring.NewRing(hs, minSize, ring.DefaultMaxRingSize), hs, factor)
	index := map[string]int{}
	for i, h := range hs {
		index[h.Key] = i
	}
	active, total, walked := make([]uint32, len(hs)), uint32(0), 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 40 {
		key := "hot-adapter"
		if i%4 == 3 {
			key = fmt.Sprintf("cold-%d", i)
		}
		want := b.Pick(ring.HashKey(key), active, total)
		if want != b.Pick(ring.HashKey(key), make([]uint32, len(hs)), 0) {
			walked++
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", f.url+"/hold", nil)
		req.Header.Set(HeaderDeployment, "a")
		req.Header.Set(HeaderRouteKey, key)
		go func() {
			if resp, err := f.client.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		var got string
		select {
		case got = <-arrivals:
		case <-time.After(10 * time.Second):
			t.Fatalf("request %d never reached a backend", i)
		}
		if got != hs[want].Key {
			t.Fatalf("request %d (key %q, in flight %v): Envoy chose %s, Go predicted %s", i, key, active, got, hs[want].Key)
		}
		active[index[got]]++
		total++
	}
	if walked < 5 {
		t.Fatalf("only %d requests left their ring host: the bound was not exercised", walked)
	}
	t.Logf("40 held requests agreed, %d of them walked off their ring host; in flight %v", walked, active)
}
