package sidecar

import (
	"context"
	"fmt"

	"github.com/graft-ai/graft/deploy/state"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
	"github.com/graft-ai/graft/sidecar/gpu"
	"github.com/graft-ai/graft/sidecar/openai"
	"github.com/graft-ai/graft/sidecar/replica"
)

// startReplica starts the one poller of the engine's load and adapters: it
// feeds the API's /metrics always, and Redis when cfg.Redis is set. The
// returned stop deletes the replica's keys and closes the Redis client.
func startReplica(cfg *Config, addr string, ec enginev1.EngineClient, api *openai.Server) (*replica.Reporter, func(), error) {
	rc := replica.Config{Engine: ec, Deployment: cfg.Deployment, ReplicaID: cfg.ReplicaID, Addr: addr,
		TTL: cfg.HeartbeatTTL, Registerer: api.Registry(), ModelName: api.ModelName}
	// Without a GPU this logs "no GPU" once and adds nothing.
	gpus := gpu.Open(nil)
	if err := api.Registry().Register(gpus); err != nil {
		return nil, nil, fmt.Errorf("sidecar: GPU metrics: %w", err)
	}
	rc.GPU = gpus
	var store *state.Store
	if cfg.Redis != "" {
		s, err := state.Open(cfg.Redis)
		if err != nil {
			return nil, nil, &ConfigError{Field: "Redis", Err: fmt.Errorf("redis: %w", err)}
		}
		store, rc.Store = s, s
	}
	rep, err := replica.Start(context.Background(), rc)
	if err != nil {
		gpus.Close()
		if store != nil {
			store.Close()
		}
		return nil, nil, &ConfigError{Field: "Redis", Err: err}
	}
	return rep, func() {
		rep.Stop()
		gpus.Close()
		if store != nil {
			store.Close()
		}
	}, nil
}
