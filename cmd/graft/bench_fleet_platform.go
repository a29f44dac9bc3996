package main

import (
	"context"
	"net/http"
	"time"

	"github.com/graft-ai/graft/internal/fleet"
)

// realFleet is a small real platform on this machine: redis-server, pods of
// stories260K (engine + sidecar), the gateway, xDS and Envoy.
type realFleet struct {
	*fleet.Fleet
	url, key string
	client   *http.Client
}

// startFleet starts replicas pods named r0.. of deployment "stories" over
// the adapters in adapterRoot, and returns once the front routes to all.
func startFleet(ctx context.Context, dir, model, adapterRoot string, replicas, maxSeqs int) (*realFleet, error) {
	f, err := fleet.StartFleet(ctx, fleet.FleetConfig{Dir: dir, Model: model, AdapterRoot: adapterRoot,
		Deployment: "stories", Replicas: replicas, MaxSeqs: maxSeqs, Threads: 1})
	if err != nil {
		return nil, err
	}
	f.Client.Timeout = 5 * time.Minute
	return &realFleet{Fleet: f, url: f.URL, key: f.Key, client: f.Client}, nil
}

func (f *realFleet) stop() { f.Fleet.Stop() }

func (f *realFleet) adapterLoads() (reads, slots uint64) { return f.AdapterLoads() }
