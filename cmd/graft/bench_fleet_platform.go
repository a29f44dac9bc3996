package main

import (
	"context"
	"net/http"
	"time"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/internal/fleet"
	"github.com/graft-ai/graft/routing/sim"
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

// resident is what each engine (r0, r1, ... in order) holds now, as indexes
// into names: adapters in a slot, and adapters parsed in host memory only.
// The simulator starts from it, so a run after the calibration compares
// like with like. The engine does not say which it used last; the order is
// by name.
func (f *realFleet) resident(names []string) []sim.Resident {
	index := map[string]int{}
	for i, n := range names {
		index[n] = i
	}
	var out []sim.Resident
	for _, e := range f.Engines {
		var r sim.Resident
		for _, a := range e.Adapters() {
			i, ok := index[a.ID]
			switch {
			case !ok:
			case a.Tier == engine.TierActive:
				r.Slots = append(r.Slots, i)
			case a.Tier == engine.TierHost:
				r.Host = append(r.Host, i)
			}
		}
		out = append(out, r)
	}
	return out
}
