package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// controller reconciles one deployment: the record in Redis says what is
// wanted, the provider what runs, the heartbeats how busy it is. It keeps only
// timers in memory, so a restarted controller picks up where the record is.
type controller struct {
	m     *Manager
	name  string
	log   *slog.Logger
	kicks chan struct{}

	lowSince  time.Time // since when load has been low enough to remove a replica
	crashes   int       // replicas lost in a row, for the replacement backoff
	nextStart time.Time // no replacement before this
	readFails bool      // so a Redis outage is logged once
}

func newController(m *Manager, name string) *controller {
	return &controller{m: m, name: name, log: m.cfg.Log.With("deployment", name), kicks: make(chan struct{}, 1)}
}

func (c *controller) kick() {
	select {
	case c.kicks <- struct{}{}:
	default:
	}
}

func (c *controller) run(ctx context.Context) {
	tick := time.NewTicker(c.m.cfg.Tick)
	defer tick.Stop()
	for {
		watch := c.m.cfg.Provider.Watch()
		if done := c.reconcile(ctx); done {
			c.m.metrics.forget(c.name)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-c.kicks:
		case <-watch:
		}
	}
}

// view sorts the provider's replicas by what the controller does with them.
type view struct {
	live, starting []Replica // of the current replica generation
	old            []Replica // live or starting, of an older generation
	stopping       []Replica
	failed         []Replica // failed or exited: to forget, and maybe to replace
}

// ready counts the replicas serving now, of any generation: "live" also
// counts old ones still starting.
func (v view) ready() int {
	n := len(v.live)
	for _, r := range v.old {
		if r.Phase == PhaseLive {
			n++
		}
	}
	return n
}

func (c *controller) view(gen int64) view {
	var v view
	for _, r := range c.m.cfg.Provider.List(c.name) {
		switch {
		case r.Phase == PhaseStopping:
			v.stopping = append(v.stopping, r)
		case r.Phase == PhaseFailed || r.Phase == PhaseExited:
			v.failed = append(v.failed, r)
		case r.Generation != gen:
			v.old = append(v.old, r)
		case r.Phase == PhaseLive:
			v.live = append(v.live, r)
		default:
			v.starting = append(v.starting, r)
		}
	}
	return v
}

// reconcile does one round; it reports true once the deployment is deleted
// and its last replica gone.
func (c *controller) reconcile(ctx context.Context) bool {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rec, err := c.m.Get(rctx, c.name)
	if errors.Is(err, ErrNotFound) {
		c.stopAll(ctx, c.view(0))
		return len(c.m.cfg.Provider.List(c.name)) == 0
	}
	if err != nil {
		if !c.readFails && ctx.Err() == nil {
			c.log.Warn("reading the deployment failed; replicas keep running as they are", "err", err)
		}
		c.readFails = true
		return false
	}
	if c.readFails {
		c.log.Info("deployment record readable again; reconciling")
		c.readFails = false
	}
	v := c.view(rec.ReplicaGeneration)
	c.m.metrics.replicas.WithLabelValues(c.name, "live").Set(float64(len(v.live) + len(v.old)))
	c.m.metrics.replicas.WithLabelValues(c.name, "desired").Set(float64(rec.Desired))
	c.m.metrics.replicas.WithLabelValues(c.name, "ready").Set(float64(v.ready()))
	switch rec.Status {
	case Deleted, Stopped, Errored, Standby:
		// Statuses with no replicas.
		c.stopAll(ctx, v)
		c.setDesired(ctx, rec.Desired, 0, string(rec.Status))
	}
	switch rec.Status {
	case Deleted:
		return len(c.m.cfg.Provider.List(c.name)) == 0
	case Standby:
		if rec.Spec.MinReplicas > 0 {
			c.setStatus(ctx, rec, Initializing, fmt.Sprintf("min_replicas is %d", rec.Spec.MinReplicas))
		}
	case Pending:
		if rec.Spec.MinReplicas > 0 {
			c.setStatus(ctx, rec, Initializing, fmt.Sprintf("created with min_replicas %d", rec.Spec.MinReplicas))
		} else {
			c.setStatus(ctx, rec, Standby, "created with min_replicas 0: waiting for a request")
		}
	case Initializing:
		c.initializing(ctx, rec, v)
	case Ready:
		c.ready(ctx, rec, v)
	case Updating:
		c.updating(ctx, rec, v)
	}
	return false
}

// initializing starts the wanted replicas and waits for one to be live; a
// replica that fails first makes the deployment Errored with its reason.
func (c *controller) initializing(ctx context.Context, rec Record, v view) {
	c.stop(ctx, v.old...)
	if len(v.live) > 0 {
		c.crashes = 0
		c.setStatus(ctx, rec, Ready, fmt.Sprintf("replica %s is live", v.live[0].ID))
		return
	}
	if len(v.failed) > 0 {
		c.fail(ctx, rec, v, v.failed[0])
		return
	}
	want := max(rec.Desired, rec.Spec.MinReplicas, 1)
	if rec.Desired != want {
		c.setDesired(ctx, rec.Desired, want, "initializing")
	}
	for range want - len(v.starting) {
		c.startReplica(ctx, rec)
	}
}

// fail stops everything and records why the replica never got live.
func (c *controller) fail(ctx context.Context, rec Record, v view, bad Replica) {
	c.stopAll(ctx, v)
	c.setDesired(ctx, rec.Desired, 0, "initialization failed")
	c.setStatus(ctx, rec, Errored, fmt.Sprintf("replica %s: %s", bad.ID, bad.Reason))
}

// ready replaces lost replicas, moves to Updating when the spec needs new
// ones, and autoscales.
func (c *controller) ready(ctx context.Context, rec Record, v view) {
	if len(v.old) > 0 {
		c.setStatus(ctx, rec, Updating, fmt.Sprintf("generation %d needs new replicas", rec.ReplicaGeneration))
		return
	}
	lost := c.forget(ctx, v.failed)
	if len(v.live) == 0 {
		// Nothing serves: say so, and start from scratch (a failure there
		// makes it Errored instead of a crash loop).
		why := "every replica is gone"
		if lost != "" {
			why = "every replica exited; last: " + lost
		}
		c.setStatus(ctx, rec, Initializing, why)
		return
	}
	desired := c.autoscale(ctx, rec, v)
	if desired == 0 {
		c.stopAll(ctx, v)
		c.setStatus(ctx, rec, Standby, fmt.Sprintf("idle for the cooldown (%s): scaled to zero", time.Duration(rec.Spec.Cooldown)))
		return
	}
	n := len(v.live) + len(v.starting)
	if len(v.live) >= desired {
		c.crashes = 0 // healthy again: the next loss is replaced at once
	}
	switch {
	case n < desired && time.Now().Before(c.nextStart):
	case n < desired:
		for range desired - n {
			c.startReplica(ctx, rec)
		}
	case n > desired:
		// Starting ones first (they serve nothing yet), then the least busy.
		extra := slices.Concat(v.starting, c.byLoad(ctx, v.live))
		c.stop(ctx, extra[:n-desired]...)
	}
}

// forget removes failed and exited replicas, schedules their replacement
// with backoff, and returns the last reason.
func (c *controller) forget(ctx context.Context, failed []Replica) string {
	last := ""
	for _, r := range failed {
		c.crashes++
		wait := min(time.Second<<min(c.crashes-1, 16), c.m.cfg.BackoffMax)
		c.nextStart = time.Now().Add(wait)
		c.log.Warn("replica lost; replacing it", "replica", r.ID, "phase", r.Phase, "reason", r.Reason, "after", wait)
		c.m.metrics.restarts.WithLabelValues(c.name).Inc()
		_ = c.m.cfg.Provider.Stop(ctx, c.name, r.ID)
		last = r.ID + ": " + r.Reason
	}
	return last
}

// updating replaces old-generation replicas one at a time: start one new
// (surge one), and each time one is live let one old replica drain and go.
func (c *controller) updating(ctx context.Context, rec Record, v view) {
	var oldLive []Replica
	for _, r := range v.old {
		if r.Phase == PhaseLive {
			oldLive = append(oldLive, r)
		} else {
			c.stop(ctx, r) // an old one still starting is not worth finishing
		}
	}
	for _, r := range v.failed {
		if r.Generation == rec.ReplicaGeneration && r.Phase == PhaseFailed {
			c.fail(ctx, rec, v, r)
			return
		}
	}
	c.forget(ctx, v.failed)
	if len(oldLive) == 0 {
		if len(v.live) > 0 {
			c.setStatus(ctx, rec, Ready, fmt.Sprintf("every replica runs generation %d", rec.ReplicaGeneration))
		} else if len(v.starting) == 0 {
			c.startReplica(ctx, rec)
		}
		return
	}
	target := max(rec.Desired, 1)
	// Drain before starting the next new replica, so that at no moment more
	// than target+1 replicas run (surge one).
	if keep := max(target-len(v.live), 0); len(oldLive) > keep {
		c.log.Info("new replica live; draining an old one", "old", len(oldLive), "new", len(v.live))
		c.stop(ctx, oldLive[:len(oldLive)-keep]...)
		oldLive = oldLive[len(oldLive)-keep:]
	}
	if len(v.starting) == 0 && len(v.live) < target && len(v.live)+len(oldLive) <= target {
		c.startReplica(ctx, rec)
	}
}

func (c *controller) startReplica(ctx context.Context, rec Record) {
	id := fmt.Sprintf("%s-g%d-%s", rec.Name, rec.ReplicaGeneration, randHex(3))
	err := c.m.cfg.Provider.Start(ctx, ReplicaSpec{Deployment: rec.Name, ID: id, Generation: rec.ReplicaGeneration, Spec: rec.Spec})
	if err != nil {
		c.log.Error("starting a replica failed", "err", err)
		return
	}
	c.log.Info("replica starting", "replica", id, "generation", rec.ReplicaGeneration)
}

func (c *controller) stop(ctx context.Context, rs ...Replica) {
	for _, r := range rs {
		if err := c.m.cfg.Provider.Stop(ctx, c.name, r.ID); err != nil {
			c.log.Error("stopping a replica failed", "replica", r.ID, "err", err)
		}
	}
}

func (c *controller) stopAll(ctx context.Context, v view) {
	c.stop(ctx, v.live...)
	c.stop(ctx, v.starting...)
	c.stop(ctx, v.old...)
	c.stop(ctx, v.failed...)
}

// setStatus moves the record from the status it was read in; a concurrent
// change (an API call) wins, and the next round sees it.
func (c *controller) setStatus(ctx context.Context, rec Record, to Status, reason string) {
	_, err := c.m.SetStatus(ctx, c.name, []Status{rec.Status}, to, reason)
	var stale *StaleError
	switch {
	case errors.As(err, &stale):
		c.kick()
	case err != nil:
		c.log.Warn("status change not written; retrying next round", "from", rec.Status, "to", to, "err", err)
	default:
		c.log.Info("status", "from", rec.Status, "to", to, "reason", reason)
		c.m.metrics.status.WithLabelValues(c.name, string(to)).Inc()
	}
}

func (c *controller) setDesired(ctx context.Context, from, to int, why string) {
	if from == to {
		return
	}
	_, err := c.m.Records.Update(ctx, c.name, func(r *Record) (*Event, error) {
		r.Desired = to
		return nil, nil
	})
	if err != nil {
		c.log.Warn("desired replicas not written", "to", to, "err", err)
		return
	}
	c.log.Info("desired replicas", "from", from, "to", to, "why", why)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
