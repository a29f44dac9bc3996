package main

import (
	"context"
	"time"

	"github.com/graft-ai/graft/deploy/state"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
	"github.com/graft-ai/graft/sidecar/replica"
)

// startReplica reports the replica's heartbeat and adapters to Redis until ctx
// ends or the returned stop is called; stop deletes the replica's keys.
func startReplica(ctx context.Context, url, deployment, replicaID, addr string, ttl time.Duration, ec enginev1.EngineClient) (*replica.Reporter, func(), error) {
	store, err := state.Open(url)
	if err != nil {
		return nil, nil, usageError("--redis: %v", err)
	}
	rep, err := replica.Start(ctx, replica.Config{Engine: ec, Store: store, Deployment: deployment,
		ReplicaID: replicaID, Addr: addr, TTL: ttl})
	if err != nil {
		store.Close()
		return nil, nil, usageError("%v", err)
	}
	return rep, func() { rep.Stop(); store.Close() }, nil
}
