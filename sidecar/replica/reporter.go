// Package replica reports one pod's engine to the outside: a single poller
// reads the engine's Stats and ListAdapters and feeds both the pod's Prometheus
// gauges (vLLM's names) and, when a Store is given, the replica's entry in
// Redis (heartbeat, resident adapters, change messages). Requests never wait
// on it: Redis I/O happens only on the reporter's own goroutines, so an outage
// costs them nothing; and the engine poll does not wait for Redis either, so
// /metrics stays current while Redis is down.
package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/graft-ai/graft/deploy/state"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// Defaults for Config's zero values.
const (
	DefaultInterval = time.Second
	DefaultTTL      = 15 * time.Second
	DefaultTimeout  = 2 * time.Second
)

// Config describes the replica and where to report it.
type Config struct {
	Engine enginev1.EngineClient
	// Store receives the heartbeat and residency; nil reports to /metrics only.
	Store                       *state.Store
	Deployment, ReplicaID, Addr string
	// TTL of the Redis keys, refreshed by every poll; Interval between polls
	// (default the smaller of 1s and TTL/3). A TTL shorter than two intervals
	// is refused: one lost write would expire a live replica.
	TTL, Interval time.Duration
	// Timeout bounds one poll's engine calls and, separately, its Redis writes.
	Timeout time.Duration
	// Registerer gets the engine gauges; nil registers none.
	Registerer prometheus.Registerer
	// ModelName is the model_name label; nil or "" uses the engine's model id.
	ModelName func() string
	// GPU, when set, adds the GPUs' memory to each heartbeat.
	GPU interface{ Memory() (used, total int64) }
	Log *slog.Logger
}

// Reporter is the running poller.
type Reporter struct {
	cfg       Config
	collector *collector
	refresh   chan struct{}
	pending   chan state.Replica // the latest entry to write; one slot, replaced by newer
	cancel    context.CancelFunc
	done      chan struct{}
	stopOnce  sync.Once
	draining  atomic.Bool

	// Owned by the poller goroutine.
	loaded      []string // the engine's adapters at the last good poll
	engineFails bool     // so a dead engine is logged once, not every poll

	// Owned by the writer goroutine.
	redisFails bool // so an outage is logged once, not every poll
	announced  announced
}

// announced is what the Store's readers were last told.
type announced struct {
	ok       bool
	state    string
	adapters []string
}

// Start validates cfg, registers the gauges and starts polling; the first
// poll runs at once. The poller stops when ctx ends or Stop is called.
func Start(ctx context.Context, cfg Config) (*Reporter, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	r := &Reporter{cfg: cfg, collector: &collector{}, refresh: make(chan struct{}, 1),
		pending: make(chan state.Replica, 1), done: make(chan struct{})}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(r.collector); err != nil {
			return nil, fmt.Errorf("replica metrics: %w", err)
		}
	}
	ctx, r.cancel = context.WithCancel(ctx)
	go r.run(ctx)
	return r, nil
}

func withDefaults(cfg Config) (Config, error) {
	if cfg.Engine == nil {
		return cfg, errors.New("replica: no engine client")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Interval <= 0 {
		cfg.Interval = min(DefaultInterval, cfg.TTL/3)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Store == nil {
		return cfg, nil
	}
	if err := state.CheckName(cfg.Deployment); err != nil {
		return cfg, fmt.Errorf("replica: deployment %w", err)
	}
	if err := state.CheckName(cfg.ReplicaID); err != nil {
		return cfg, fmt.Errorf("replica: replica id %w", err)
	}
	if cfg.Addr == "" {
		return cfg, errors.New("replica: no address to publish for the replica")
	}
	if cfg.TTL < 2*cfg.Interval {
		return cfg, fmt.Errorf("replica: TTL %s is shorter than two poll intervals (%s)", cfg.TTL, cfg.Interval)
	}
	return cfg, nil
}

// Refresh asks for a poll now, for example after an adapter was loaded. It
// never blocks: a poll already asked for covers this one.
func (r *Reporter) Refresh() {
	select {
	case r.refresh <- struct{}{}:
	default:
	}
}

// Drain marks the replica draining: from the next poll on (asked for now)
// its entry says state.StateDraining, so routers send it nothing new while
// its running requests finish. It never blocks.
func (r *Reporter) Drain() {
	r.draining.Store(true)
	r.Refresh()
}

// Stop ends polling, deletes the replica's keys, announces replica.down and
// unregisters the gauges. It waits for that cleanup (bounded by Timeout) and
// is safe to call more than once.
func (r *Reporter) Stop() {
	r.stopOnce.Do(r.cancel)
	<-r.done
}

func (r *Reporter) run(ctx context.Context) {
	defer close(r.done)
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); r.writeLoop(ctx) }()
	// The cleanup must not race a write that would recreate the keys.
	defer func() { <-writerDone; r.cleanup(context.WithoutCancel(ctx)) }()
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		r.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.refresh:
		}
	}
}

// writeLoop writes the entries the poller hands over. A slow or absent Redis
// only makes it skip to the newest entry.
func (r *Reporter) writeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case rep := <-r.pending:
			r.report(ctx, rep)
		}
	}
}

// hand replaces the entry waiting to be written with rep; it never blocks,
// since the poller is the only sender.
func (r *Reporter) hand(rep state.Replica) {
	select {
	case <-r.pending:
	default:
	}
	r.pending <- rep
}

func (r *Reporter) cleanup(ctx context.Context) {
	if r.cfg.Registerer != nil {
		r.cfg.Registerer.Unregister(r.collector)
	}
	if r.cfg.Store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	err := r.cfg.Store.DeleteReplica(ctx, r.cfg.Deployment, r.cfg.ReplicaID)
	if err == nil {
		err = r.cfg.Store.Publish(ctx, r.change(state.KindReplicaDown, ""))
	}
	if err != nil {
		r.cfg.Log.Warn("replica cleanup in Redis failed; its keys expire with their TTL",
			"replica", r.cfg.ReplicaID, "err", err)
	}
}

func (r *Reporter) change(kind, adapter string) state.Change {
	return state.Change{Kind: kind, Deployment: r.cfg.Deployment, Replica: r.cfg.ReplicaID, Adapter: adapter}
}
