package gateway_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graft-ai/graft/gateway"
	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/routing/ring"
	"github.com/graft-ai/graft/xds"
)

// eightAdapters makes an adapter root with eight names over stories260K's
// four adapters (two names each, so each name is its own adapter to route).
func eightAdapters(t *testing.T) (root string, names []string) {
	t.Helper()
	src := testmodels.Path(t, "stories260K", "adapters")
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		for _, suffix := range []string{"a", "b"} {
			name := e.Name() + "-" + suffix
			if err := os.CopyFS(filepath.Join(dst, name), os.DirFS(filepath.Join(src, e.Name()))); err != nil {
				t.Fatal(err)
			}
			names = append(names, name)
		}
	}
	return dst, names
}

// TestFrontAdapterAffinityAndHotSpreading, measured through the real Envoy:
// at light load each adapter's requests land on one replica of three (≥95%);
// one adapter made hot spreads over at least two.
func TestFrontAdapterAffinityAndHotSpreading(t *testing.T) {
	root, names := eightAdapters(t)
	p := startPlatform(t, platformOpts{replicas: 3, adapters: root,
		gateway: func(c *gateway.Config) { c.HotRate = 10 }})
	body := func(a string) string {
		return fmt.Sprintf(`{"model":"stories/%s","prompt":"Once","max_tokens":1}`, a)
	}
	// Light load: 200 requests at ~40/s over 8 adapters, 5/s each.
	perAdapter := map[string]map[string]int{}
	for i := range 200 {
		a := names[i%len(names)]
		code, out, rep := p.postFrom(t, "/v1/completions", p.key, body(a))
		if code != 200 {
			t.Fatalf("%s: %d %s", a, code, out)
		}
		if perAdapter[a] == nil {
			perAdapter[a] = map[string]int{}
		}
		perAdapter[a][rep]++
		time.Sleep(25 * time.Millisecond)
	}
	replicasUsed := map[string]bool{}
	for _, a := range names {
		top, total := 0, 0
		for rep, n := range perAdapter[a] {
			top = max(top, n)
			total += n
			replicasUsed[rep] = true
		}
		t.Logf("%s: %v", a, perAdapter[a])
		if float64(top) < 0.95*float64(total) {
			t.Errorf("adapter %s spread over replicas at light load: %v", a, perAdapter[a])
		}
	}
	if len(replicasUsed) < 2 {
		t.Errorf("8 adapters all packed on %v", replicasUsed)
	}

	// Hot: one adapter at ~100 requests/s, well over the 10/s one replica takes.
	hot := names[0]
	seen := map[string]int{}
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) && len(seen) < 2 {
		for range 10 {
			go p.fire("/v1/completions", body(hot))
		}
		_, _, rep := p.postFrom(t, "/v1/completions", p.key, body(hot))
		seen[rep]++
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("hot adapter %s: replicas %v", hot, seen)
	if len(seen) < 2 {
		t.Errorf("a hot adapter stayed on one replica: %v", seen)
	}
	checkBoundedLoad(t, p, fmt.Sprintf(`{"model":"stories/%s","prompt":"Once","max_tokens":64}`, names[1]))
}

// checkBoundedLoad keeps 12 clients sending long requests for one adapter,
// back to back, and reads Envoy's own in-flight count per replica while they
// run. Envoy bounds a host when it places a request: a host is passed over
// once it holds more than ceil(ceil((total+1)·f)/n) (f the balance factor,
// total the requests in flight then), so it may reach that plus one. Counts
// read later can only be checked against the most that was in flight, since
// a host keeps what it was given while the others' requests end. The first
// wave is not checked: Envoy counts a request on a host only once its
// upstream connection is up, and the first burst arrives before any is.
func checkBoundedLoad(t *testing.T, p *platform, body string) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var completed atomic.Int32
	const clients = 12
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				p.fire("/v1/completions", body)
				completed.Add(1)
			}
		}()
	}
	defer wg.Wait()
	const factor = float64(ring.BalanceFactor) / 100
	peak, heaviest, worst, samples := 0, 0, 0.0, 0
	for ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
		active, err := p.front.Envoy.ActiveRequests(context.Background(), xds.ClusterName("stories"))
		if err != nil {
			t.Fatal(err)
		}
		total, most := 0, 0
		for _, n := range active {
			total += n
			most = max(most, n)
		}
		if completed.Load() < clients || len(active) == 0 {
			continue
		}
		peak = max(peak, total)
		if total < clients/2 {
			continue
		}
		samples++
		heaviest = max(heaviest, most)
		mean := float64(total) / float64(len(active))
		worst = max(worst, float64(most)/mean)
		allowed := int(math.Ceil(math.Ceil(float64(peak+1)*factor)/float64(len(active)))) + 1
		if most > allowed {
			t.Errorf("a replica carries %d of %d in flight %v (at most %d were in flight: allowed %d)", most, total, active, peak, allowed)
		}
	}
	t.Logf("bounded load: %d samples with ≥%d in flight, peak %d, heaviest replica %d, worst max/mean %.2f (factor %.2f)",
		samples, clients/2, peak, heaviest, worst, factor)
	if samples == 0 {
		t.Error("never saw enough requests in flight: the check measured nothing")
	}
}
