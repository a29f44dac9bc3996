package sidecar

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
	"github.com/graft-ai/graft/sidecar/residency"
)

// startResidency publishes the replica's heartbeat and adapters to Redis until
// ctx ends. The engine's Stats feed the load fields.
func startResidency(ctx context.Context, cfg *Config, addr string, ec enginev1.EngineClient) (*residency.Publisher, func(), error) {
	opts, err := redis.ParseURL(cfg.Redis)
	if err != nil {
		return nil, nil, &ConfigError{Field: "Redis", Err: fmt.Errorf("redis %q: %w", cfg.Redis, err)}
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
	pub := residency.New(client, cfg.Deployment, cfg.ReplicaID, addr, cfg.HeartbeatTTL, load)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = pub.Run(ctx)
	}()
	return pub, func() { <-done; client.Close() }, nil
}
