package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/graft-ai/graft/routing/spread"
)

// rateStore is the part of deploy/state the spreader shares rates through.
type rateStore interface {
	AddAdapterRequests(ctx context.Context, deployment string, sec int64, counts map[string]int64) error
	AdapterRequests(ctx context.Context, deployment string, from, to int64) (map[string]int64, error)
}

// Spreader picks route keys with routing/spread, one spread.Keys per
// deployment. Counts are pooled in Redis by every gateway (flushed in the
// background: Redis is never on a request's path) so they all agree on k.
type Spreader struct {
	store   rateStore
	hotRate float64
	maxK    int
	window  time.Duration

	mu   sync.Mutex
	deps map[string]*spread.Keys
}

func newSpreader(store rateStore, hotRate float64, maxK int, window time.Duration) *Spreader {
	return &Spreader{store: store, hotRate: hotRate, maxK: maxK, window: window, deps: map[string]*spread.Keys{}}
}

// keys returns the deployment's state; s.mu must be held.
func (s *Spreader) keys(deployment string) *spread.Keys {
	k := s.deps[deployment]
	if k == nil {
		k = spread.New(s.hotRate, s.maxK)
		s.deps[deployment] = k
	}
	return k
}

// RouteKey counts one request and returns its route key; "" for the base
// model, which any replica serves equally well.
func (s *Spreader) RouteKey(deployment, adapter string) string {
	if adapter == "" {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys(deployment).RouteKey(adapter)
}

// K returns how many replicas an adapter currently spreads over.
func (s *Spreader) K(deployment, adapter string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys(deployment).K(adapter)
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
	local := map[string]map[string]int64{}
	var hot []string
	for dep, k := range s.deps {
		if c := k.Drain(); len(c) > 0 {
			local[dep] = c
		} else if k.Hot() {
			hot = append(hot, dep)
		}
	}
	s.mu.Unlock()
	now := time.Now().Unix()
	for dep, counts := range local {
		if err := s.store.AddAdapterRequests(ctx, dep, now, counts); err != nil && ctx.Err() == nil {
			slog.Warn("gateway: sharing adapter rates failed; spreading uses the last known rates", "err", err)
		}
	}
	secs := int64(max(s.window/time.Second, 1))
	for dep := range local {
		hot = append(hot, dep)
	}
	for _, dep := range hot {
		// The current second is still filling: rates use the full ones.
		sums, err := s.store.AdapterRequests(ctx, dep, now-secs, now-1)
		if err != nil {
			continue
		}
		s.update(dep, sums, float64(secs))
	}
}

func (s *Spreader) update(dep string, sums map[string]int64, secs float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys(dep).Update(sums, secs)
}
