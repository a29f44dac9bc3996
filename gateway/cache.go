package gateway

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/graft-ai/graft/deploy/state"
)

// lookupTTL bounds how stale a cached deployment may be when a change
// message is lost; with the message it is dropped at once.
const lookupTTL = time.Second

// cachedDeployments keeps Lookup answers so that admitting a request to a
// Ready deployment costs no Redis round trip.
type cachedDeployments struct {
	Deployments
	mu sync.Mutex
	m  map[string]cachedLookup
}

type cachedLookup struct {
	d       Deployment
	err     error
	expires time.Time
}

func newCachedDeployments(d Deployments) *cachedDeployments {
	return &cachedDeployments{Deployments: d, m: map[string]cachedLookup{}}
}

func (c *cachedDeployments) Lookup(ctx context.Context, name string) (Deployment, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[name]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.d, e.err
	}
	if inline(ctx) {
		return Deployment{}, errWouldBlock
	}
	d, err := c.Deployments.Lookup(ctx, name)
	if err != nil && !errors.Is(err, ErrNoDeployment) {
		return d, err // an outage is not cached
	}
	c.mu.Lock()
	if len(c.m) > 10_000 {
		clear(c.m) // unknown names must not grow it without bound
	}
	c.m[name] = cachedLookup{d: d, err: err, expires: now.Add(lookupTTL)}
	c.mu.Unlock()
	return d, err
}

func (c *cachedDeployments) drop(name string) {
	c.mu.Lock()
	delete(c.m, name)
	c.mu.Unlock()
}

// watchChanges drops cached deployments and keys as their change messages
// arrive, resubscribing after Redis goes away.
func (g *Gateway) watchChanges(ctx context.Context) {
	for ctx.Err() == nil {
		changes, err := g.cfg.Store.Subscribe(ctx)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for c := range changes {
			switch {
			case strings.HasPrefix(c.Kind, "deployment."):
				g.deployments.drop(c.Deployment)
			case c.Kind == state.KindAPIKeyRevoked:
				g.keys.drop(c.APIKey)
			}
		}
		if ctx.Err() == nil {
			slog.Warn("gateway: change subscription ended; resubscribing")
		}
	}
}
