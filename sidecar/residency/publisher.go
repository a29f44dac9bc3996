package residency

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Publisher keeps one replica's keys in Redis. Its methods are safe for
// concurrent use.
type Publisher struct {
	rdb                 redis.UniversalClient
	deployment, replica string
	addr                string
	ttl                 time.Duration
	load                func() Load
	replicaKey, setKey  string
	// Interval between heartbeats; New sets ttl/3, so two beats may be lost
	// before the keys expire.
	Interval time.Duration
	Log      *slog.Logger

	mu        sync.Mutex // serialises writes, so a heartbeat's rewrite never drops a concurrent load
	adapters  map[string]struct{}
	lastState string
}

// New returns a Publisher for replica id of deployment, reachable at addr.
// load is called on each heartbeat and must be cheap.
func New(client redis.UniversalClient, deployment, replicaID, addr string, ttl time.Duration, load func() Load) *Publisher {
	return &Publisher{
		rdb: client, deployment: deployment, replica: replicaID, addr: addr, ttl: ttl, load: load,
		replicaKey: ReplicaKey(deployment, replicaID), setKey: ResidencyKey(deployment, replicaID),
		Interval: ttl / 3, Log: slog.Default(), adapters: map[string]struct{}{},
	}
}

// Run heartbeats until ctx ends, then deletes the replica's keys and announces
// replica.down. A heartbeat that fails (Redis down) is logged and retried at
// the next interval. It returns the error of the final cleanup, if any.
func (p *Publisher) Run(ctx context.Context) error {
	if p.ttl <= 0 || p.Interval <= 0 {
		return fmt.Errorf("residency: ttl %s and interval %s must be positive", p.ttl, p.Interval)
	}
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		if err := p.Heartbeat(ctx); err != nil && ctx.Err() == nil {
			p.Log.Warn("residency heartbeat failed", "replica", p.replicaKey, "err", err)
		}
		select {
		case <-ctx.Done():
			return p.cleanup(context.WithoutCancel(ctx))
		case <-t.C:
		}
	}
}

// Heartbeat publishes the replica's load and its adapter set now, rewriting both
// keys and refreshing their TTL. Run calls it every Interval.
func (p *Publisher) Heartbeat(ctx context.Context) error {
	load := p.load()
	p.mu.Lock()
	defer p.mu.Unlock()
	var existed *redis.IntCmd
	_, err := p.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		existed = tx.Exists(ctx, p.replicaKey)
		tx.Del(ctx, p.replicaKey, p.setKey)
		tx.HSet(ctx, p.replicaKey, load.fields(p.addr, time.Now().UnixMilli()))
		tx.PExpire(ctx, p.replicaKey, p.ttl)
		if len(p.adapters) > 0 {
			tx.SAdd(ctx, p.setKey, toAny(slices.Sorted(maps.Keys(p.adapters)))...)
			tx.PExpire(ctx, p.setKey, p.ttl)
		}
		return nil
	})
	if err != nil {
		return err
	}
	switch {
	case existed.Val() == 0:
		err = p.notify(ctx, KindReplicaUp, "")
	case load.State != p.lastState:
		err = p.notify(ctx, KindReplicaState, "")
	}
	if err == nil {
		p.lastState = load.State
	}
	return err
}

// AdapterLoaded records that the replica now holds adapter id.
func (p *Publisher) AdapterLoaded(ctx context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.adapters[id] = struct{}{}
	_, err := p.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.SAdd(ctx, p.setKey, id)
		tx.PExpire(ctx, p.setKey, p.ttl)
		return nil
	})
	if err != nil {
		return err // the next heartbeat writes it
	}
	return p.notify(ctx, KindAdapterLoaded, id)
}

// AdapterUnloaded records that the replica no longer holds adapter id.
func (p *Publisher) AdapterUnloaded(ctx context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.adapters, id)
	if err := p.rdb.SRem(ctx, p.setKey, id).Err(); err != nil {
		return err
	}
	return p.notify(ctx, KindAdapterUnloaded, id)
}

// Adapters returns the adapter ids the publisher believes are loaded, sorted.
func (p *Publisher) Adapters() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Sorted(maps.Keys(p.adapters))
}

func (p *Publisher) cleanup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.rdb.Del(ctx, p.replicaKey, p.setKey).Err(); err != nil {
		return err
	}
	return p.notify(ctx, KindReplicaDown, "")
}

func (p *Publisher) notify(ctx context.Context, kind, adapter string) error {
	b, err := json.Marshal(Change{Kind: kind, Deployment: p.deployment, Replica: p.replica, Adapter: adapter})
	if err != nil {
		return err
	}
	return p.rdb.Publish(ctx, Channel, b).Err()
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
