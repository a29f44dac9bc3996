package fleet

import (
	"context"
	"os"
	"path/filepath"
)

// env is the one-pod fleet the benchmark measures, in a directory of its own.
type env struct {
	*Fleet
	deployment string
	dir        string
	accessLog  string
	bare       *bareEnvoy
}

func (e *env) stop() {
	if e.bare != nil {
		e.bare.stop()
	}
	e.Fleet.Stop()
	os.RemoveAll(e.dir)
}

func start(ctx context.Context, c Config) (*env, error) {
	dir, err := os.MkdirTemp("", "graft-bench-gateway-")
	if err != nil {
		return nil, err
	}
	var accessLog string
	if c.Breakdown {
		accessLog = filepath.Join(dir, "envoy-access.log")
	}
	f, err := StartFleet(ctx, FleetConfig{Dir: dir, Model: c.Model, AdapterRoot: c.AdapterRoot, Deployment: "bench",
		Replicas: 1, Listen: c.Listen, AccessLog: accessLog, PodExe: c.PodExe, GatewayModule: c.GatewayModule})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	e := &env{Fleet: f, deployment: "bench", dir: dir, accessLog: accessLog}
	if c.EnvoyAlone {
		if e.bare, err = startBareEnvoy(ctx, f.store, filepath.Join(dir, "bare")); err != nil {
			e.stop()
			return nil, err
		}
	}
	return e, nil
}
