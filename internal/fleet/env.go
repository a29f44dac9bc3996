package fleet

import (
	"context"
	"os"
)

// env is the one-pod fleet the benchmark measures, in a directory of its own.
type env struct {
	*Fleet
	deployment string
	dir        string
}

func (e *env) stop() {
	e.Fleet.Stop()
	os.RemoveAll(e.dir)
}

func start(ctx context.Context, c Config) (*env, error) {
	dir, err := os.MkdirTemp("", "graft-bench-gateway-")
	if err != nil {
		return nil, err
	}
	f, err := StartFleet(ctx, FleetConfig{Dir: dir, Model: c.Model, AdapterRoot: c.AdapterRoot, Deployment: "bench",
		Replicas: 1, Listen: c.Listen})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &env{Fleet: f, deployment: "bench", dir: dir}, nil
}
