package xds

import (
	"context"
	"log/slog"
	"time"

	"github.com/graft-ai/graft/deploy/state"
)

// Config runs the control plane from the platform's state.
type Config struct {
	Store    *state.Store
	Server   *Server
	Listener Listener
	Gateway  string
	// GatewayModule loads the gateway into Envoy instead; see Input.
	GatewayModule *GatewayModule
	// ControlAPI is the management API's host:port; "" leaves it off.
	ControlAPI string
	// OTLP and TraceRatio configure Envoy's tracer; see Input.
	OTLP       string
	TraceRatio float64
	// Resync rebuilds from Redis this often even without a change message,
	// so deployments created or deleted since are picked up; default 1s.
	Resync time.Duration
	// Pods, when replicas run as pods (Kubernetes), keeps only the replicas
	// whose pod is Ready, at the pod's address; nil trusts the heartbeats'.
	Pods Pods
}

// Run keeps Envoy's configuration in step with Redis until ctx ends: replica
// changes arrive through a deploy/state Watcher (which resyncs by itself),
// pod changes through Pods;
// deployment records are re-read every Resync. Each rebuild is pushed only
// when its content changed.
func Run(ctx context.Context, c Config) error {
	if c.Resync == 0 {
		c.Resync = time.Second
	}
	w := c.Store.Watch(ctx, state.WatchOptions{})
	t := time.NewTicker(c.Resync)
	defer t.Stop()
	for {
		changed := w.Changed()
		var podsChanged <-chan struct{}
		if c.Pods != nil {
			podsChanged = c.Pods.Changed()
		}
		names, err := routableDeployments(ctx, c.Store)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			slog.Warn("xds: reading deployments failed; keeping the current configuration", "err", err)
		} else {
			reps := w.Snapshot()
			if c.Pods != nil {
				reps = OnPods(reps, c.Pods)
			}
			in := Input{Listener: c.Listener, Gateway: c.Gateway, GatewayModule: c.GatewayModule, ControlAPI: c.ControlAPI, OTLP: c.OTLP, TraceRatio: c.TraceRatio,
				Deployments: Deployments(names, reps)}
			if _, err := c.Server.Update(ctx, in); err != nil {
				slog.Error("xds: snapshot refused; keeping the current configuration", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-podsChanged:
		case <-t.C:
		}
	}
}

// routableDeployments names the deployments that get a route: every record
// not Deleted.
func routableDeployments(ctx context.Context, s *state.Store) ([]string, error) {
	ds, err := s.Deployments(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, d := range ds {
		if d.Status != "Deleted" {
			names = append(names, d.Name)
		}
	}
	return names, nil
}
