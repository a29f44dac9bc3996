package gateway

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// rateStore is the part of deploy/state the spreader shares rates through.
type rateStore interface {
	AddAdapterRequests(ctx context.Context, deployment string, sec int64, counts map[string]int64) error
	AdapterRequests(ctx context.Context, deployment string, from, to int64) (map[string]int64, error)
}

// Spreader picks route keys. A cold adapter's key is its name, so all its
// requests hash to the replica that holds it; a hot one's is name#i for i in
// 0..k-1, spreading it over k replicas, with k growing with its rate. Counts
// are pooled in Redis by every gateway (flushed in the background: Redis is
// never on a request's path) so they all agree on k.
type Spreader struct {
	store   rateStore
	hotRate float64 // requests/s of one adapter one replica takes before it spreads
	maxK    int
	window  time.Duration

	mu    sync.Mutex
	local map[string]map[string]int64 // deployment → adapter → requests since the last flush
	k     map[string]int              // "deployment/adapter" → replicas it spreads over
	next  map[string]uint32           // round-robin position among the k keys
}

func newSpreader(store rateStore, hotRate float64, maxK int, window time.Duration) *Spreader {
	return &Spreader{store: store, hotRate: hotRate, maxK: maxK, window: window,
		local: map[string]map[string]int64{}, k: map[string]int{}, next: map[string]uint32{}}
}

// RouteKey counts one request and returns its route key; "" for the base
// model, which any replica serves equally well.
func (s *Spreader) RouteKey(deployment, adapter string) string {
	if adapter == "" {
		return ""
	}
	id := deployment + "/" + adapter
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.local[deployment]
	if m == nil {
		m = map[string]int64{}
		s.local[deployment] = m
	}
	m[adapter]++
	k := s.k[id]
	if k <= 1 {
		return adapter
	}
	i := s.next[id] % uint32(k)
	s.next[id]++
	return adapter + "#" + strconv.Itoa(int(i))
}

// K returns how many replicas an adapter currently spreads over.
func (s *Spreader) K(deployment, adapter string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(s.k[deployment+"/"+adapter], 1)
}

// run flushes counts and recomputes k every tick until ctx ends.
func (s *Spreader) run(ctx context.Context, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sync(ctx)
		}
	}
}

func (s *Spreader) sync(ctx context.Context) {
	s.mu.Lock()
	local := s.local
	s.local = map[string]map[string]int64{}
	s.mu.Unlock()
	now := time.Now().Unix()
	for dep, counts := range local {
		if err := s.store.AddAdapterRequests(ctx, dep, now, counts); err != nil && ctx.Err() == nil {
			slog.Warn("gateway: sharing adapter rates failed; spreading uses the last known rates", "err", err)
		}
	}
	secs := int64(max(s.window/time.Second, 1))
	seen := map[string]bool{}
	for dep := range local {
		seen[dep] = true
	}
	s.mu.Lock()
	for id := range s.k {
		seen[depOf(id)] = true
	}
	s.mu.Unlock()
	for dep := range seen {
		// The current second is still filling: rates use the full ones.
		sums, err := s.store.AdapterRequests(ctx, dep, now-secs, now-1)
		if err != nil {
			continue
		}
		s.update(dep, sums, float64(secs))
	}
}

// update moves each adapter's k toward its rate: up at once, down one step
// at a time and only well below the threshold, so k does not flap.
func (s *Spreader) update(dep string, sums map[string]int64, secs float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A hot adapter that went quiet has no counts at all: it cools too.
	for id := range s.k {
		if a, ok := strings.CutPrefix(id, dep+"/"); ok {
			sums[a] += 0
		}
	}
	for adapter, n := range sums {
		id := dep + "/" + adapter
		rate := float64(n) / secs
		k := max(s.k[id], 1)
		target := min(max(int(math.Ceil(rate/s.hotRate)), 1), s.maxK)
		switch {
		case target > k:
			k = target
		case k > 1 && rate < s.hotRate*float64(k-1)*0.75:
			k--
		}
		if k <= 1 {
			delete(s.k, id)
			delete(s.next, id)
		} else {
			s.k[id] = k
		}
	}
}

func depOf(id string) string {
	dep, _, _ := strings.Cut(id, "/")
	return dep
}
