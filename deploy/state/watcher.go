package state

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// WatchOptions tune a Watcher; zero values take the defaults.
type WatchOptions struct {
	// Resync is how often the whole view is re-read, healing a missed message
	// or an expired key. Default 10s.
	Resync time.Duration
	// Timeout bounds each read. Default 5s.
	Timeout time.Duration
	Log     *slog.Logger
}

// Watcher keeps an in-memory view of every replica and its adapters. It
// re-reads a replica as soon as a Change names it, re-reads everything every
// Resync and whenever its subscription is (re)established, since messages sent
// while it was not subscribed are lost. While Redis is unreachable it keeps the
// last view it read.
type Watcher struct {
	store *Store
	opts  WatchOptions
	done  chan struct{}

	mu      sync.Mutex
	view    map[string]Replica // by ReplicaKey
	changed chan struct{}
}

// Watch starts a Watcher that runs until ctx ends.
func (s *Store) Watch(ctx context.Context, opts WatchOptions) *Watcher {
	if opts.Resync <= 0 {
		opts.Resync = 10 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	w := &Watcher{store: s, opts: opts, done: make(chan struct{}),
		view: map[string]Replica{}, changed: make(chan struct{})}
	go w.run(ctx)
	return w
}

// Snapshot returns every replica in the view, sorted by deployment then id.
// The caller may keep and modify it.
func (w *Watcher) Snapshot() []Replica {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Replica, 0, len(w.view))
	for _, r := range w.view {
		out = append(out, r.clone())
	}
	slices.SortFunc(out, func(a, b Replica) int {
		return cmp.Or(strings.Compare(a.Deployment, b.Deployment), strings.Compare(a.ID, b.ID))
	})
	return out
}

// Changed returns a channel that is closed at the view's next change (a
// replica appearing, disappearing, or any field but Updated moving). Call it
// again after each close, before taking the Snapshot, so no change is missed.
func (w *Watcher) Changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changed
}

// Done is closed once the watcher has stopped after its ctx ended.
func (w *Watcher) Done() <-chan struct{} { return w.done }

func (w *Watcher) run(ctx context.Context) {
	defer close(w.done)
	sub := w.store.rdb.Subscribe(ctx, Channel)
	defer sub.Close()
	// With subscriptions: go-redis resubscribes after a reconnect and the
	// confirmation arrives here, which is the moment to resync.
	msgs := sub.ChannelWithSubscriptions()
	tick := time.NewTicker(w.opts.Resync)
	defer tick.Stop()
	w.resync(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			w.resync(ctx)
		case m, ok := <-msgs:
			if !ok {
				return
			}
			switch m := m.(type) {
			case *redis.Subscription:
				w.resync(ctx)
			case *redis.Message:
				w.apply(ctx, m.Payload)
			}
		}
	}
}

// resync replaces the view with what Redis holds now.
func (w *Watcher) resync(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	rs, err := w.store.AllReplicas(rctx)
	if err != nil {
		if ctx.Err() == nil {
			w.opts.Log.Warn("state resync failed; keeping the last view", "err", err)
		}
		return
	}
	view := make(map[string]Replica, len(rs))
	for _, r := range rs {
		view[ReplicaKey(r.Deployment, r.ID)] = r
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	diff := len(view) != len(w.view)
	for k, r := range view {
		old, ok := w.view[k]
		diff = diff || !ok || !sameReplica(old, r)
	}
	w.view = view
	if diff {
		w.notifyLocked()
	}
}

// apply re-reads the replica a Change names. Trusting the payload instead
// could apply messages out of order; the keys are always current.
func (w *Watcher) apply(ctx context.Context, payload string) {
	c, err := ParseChange(payload)
	if err != nil {
		w.opts.Log.Warn("ignoring a malformed change message", "err", err)
		return
	}
	if !strings.HasPrefix(c.Kind, "replica.") && !strings.HasPrefix(c.Kind, "adapter.") {
		return // deployment changes are not part of this view
	}
	rctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	r, ok, err := w.store.GetReplica(rctx, c.Deployment, c.Replica)
	if err != nil {
		if ctx.Err() == nil {
			w.opts.Log.Warn("re-reading a changed replica failed; the next resync retries",
				"change", fmt.Sprintf("%+v", c), "err", err)
		}
		return
	}
	w.put(ReplicaKey(c.Deployment, c.Replica), r, ok)
}

func (w *Watcher) put(key string, r Replica, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	old, had := w.view[key]
	switch {
	case !ok && had:
		delete(w.view, key)
	case ok && (!had || !sameReplica(old, r)):
		w.view[key] = r
	case ok:
		w.view[key] = r // only Updated moved: keep it current, tell no one
		return
	default:
		return
	}
	w.notifyLocked()
}

func (w *Watcher) notifyLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}
