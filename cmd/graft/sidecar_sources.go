package main

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
	"github.com/graft-ai/graft/sidecar/residency"
)

// startResidency publishes the replica's heartbeat and adapters to Redis until
// ctx ends. The engine's Stats feed the load fields.
func startResidency(ctx context.Context, url, deployment, replica, addr string, ttl time.Duration, ec enginev1.EngineClient) (*residency.Publisher, func(), error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, nil, usageError("--redis %q: %v", url, err)
	}
	client := redis.NewClient(opts)
	load := func() residency.Load {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		st, err := ec.Stats(sctx, &enginev1.StatsRequest{})
		if err != nil {
			return residency.Load{State: "unavailable"}
		}
		l := residency.Load{State: "ready", QueueDepth: int(st.QueueDepth), Running: int(st.RunningSequences),
			AdapterSlotsUsed: int(st.AdapterSlotsUsed), AdapterSlotsTotal: int(st.AdapterSlotsTotal)}
		if st.KvBlocksTotal > 0 {
			l.KVUsePct = 100 * float64(st.KvBlocksUsed) / float64(st.KvBlocksTotal)
		}
		return l
	}
	pub := residency.New(client, deployment, replica, addr, ttl, load)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = pub.Run(ctx)
	}()
	return pub, func() { <-done; client.Close() }, nil
}
