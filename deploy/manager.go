package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/graft-ai/graft/deploy/state"
)

// ManagerConfig describes a Manager. Zero durations take the defaults named.
type ManagerConfig struct {
	Store    *state.Store
	Provider Provider
	// Tick is how often each controller reconciles without being kicked;
	// default 1s.
	Tick time.Duration
	// Resync is how often the list of deployments is re-read, so one made
	// or changed while a message was lost still gets its controller;
	// default 5s.
	Resync time.Duration
	// BackoffMax caps the wait before replacing a replica that keeps
	// crashing (1s, 2s, 4s, ... up to it); default 1m.
	BackoffMax time.Duration
	// Registerer gets the controllers' metrics; nil registers none.
	Registerer prometheus.Registerer
	Log        *slog.Logger
}

// Manager runs one controller per deployment and is the API over them:
// create, update, stop, start, delete and Wake.
type Manager struct {
	Records
	cfg     ManagerConfig
	metrics *metrics

	mu    sync.Mutex
	ctrls map[string]*controller
	ctx   context.Context // Run's, once it runs
	wg    sync.WaitGroup
}

// NewManager checks cfg; Run starts the controllers.
func NewManager(cfg ManagerConfig) (*Manager, error) {
	if cfg.Store == nil || cfg.Provider == nil {
		return nil, errors.New("deploy: a manager needs a Store and a Provider")
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 5 * time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Manager{Records: Records{Store: cfg.Store}, cfg: cfg, metrics: newMetrics(cfg.Registerer),
		ctrls: map[string]*controller{}}, nil
}

// Run runs the controllers until ctx ends, then waits for them to return.
// Replicas keep running: the caller stops them through its provider.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	m.ctx = ctx
	m.mu.Unlock()
	changes, err := m.cfg.Store.Subscribe(ctx)
	if err != nil {
		m.cfg.Log.Warn("deployment changes not subscribed; relying on the resync", "err", err)
	}
	m.resync(ctx)
	tick := time.NewTicker(m.cfg.Resync)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			m.wg.Wait()
			return nil
		case <-tick.C:
			m.resync(ctx)
			if changes == nil {
				changes, _ = m.cfg.Store.Subscribe(ctx)
			}
		case c, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			if c.Kind == state.KindDeploymentStatus || c.Kind == state.KindDeploymentDeleted {
				m.kick(c.Deployment)
			}
		}
	}
}

// resync gives every deployment that may have replicas a controller.
func (m *Manager) resync(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	recs, err := m.List(rctx)
	if err != nil {
		if ctx.Err() == nil {
			m.cfg.Log.Warn("listing deployments failed; controllers keep their last view", "err", err)
		}
		return
	}
	for _, r := range recs {
		if r.Status != Deleted || len(m.cfg.Provider.List(r.Name)) > 0 {
			m.kick(r.Name)
		}
	}
}

// kick makes the deployment's controller reconcile now, starting one if
// there is none.
func (m *Manager) kick(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx == nil || m.ctx.Err() != nil {
		return
	}
	c, ok := m.ctrls[name]
	if !ok {
		c = newController(m, name)
		m.ctrls[name] = c
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			c.run(m.ctx)
			m.mu.Lock()
			if m.ctrls[name] == c {
				delete(m.ctrls, name)
			}
			m.mu.Unlock()
		}()
	}
	c.kick()
}

// Create stores a new deployment; its controller takes it from Pending.
func (m *Manager) Create(ctx context.Context, name string, spec Spec) (Record, error) {
	return m.CreateFor(ctx, "", name, spec)
}

// CreateFor is Create on behalf of tenant owner.
func (m *Manager) CreateFor(ctx context.Context, owner, name string, spec Spec) (Record, error) {
	r, err := m.Records.CreateFor(ctx, owner, name, spec)
	if err == nil {
		m.kick(name)
	}
	return r, err
}

// Update applies a JSON merge patch to the spec. The generation moves; when
// the change needs new replicas a Ready deployment goes Updating, and an
// Errored one tries again (Initializing).
func (m *Manager) Update(ctx context.Context, name string, patch []byte) (Record, error) {
	r, err := m.Records.Update(ctx, name, func(r *Record) (*Event, error) {
		if r.Status == Deleted {
			return nil, fmt.Errorf("%w: %s was deleted", ErrNotFound, name)
		}
		next, err := MergeSpec(r.Spec, patch)
		if err != nil {
			return nil, err
		}
		needs := r.Spec.NeedsNewReplicas(next)
		r.Spec = next
		r.Generation++
		if needs {
			r.ReplicaGeneration = r.Generation
		}
		r.Desired = min(r.Desired, next.MaxReplicas)
		reason := fmt.Sprintf("spec changed (generation %d)", r.Generation)
		switch {
		case r.Status == Errored:
			r.Status, r.StatusReason = Initializing, reason+": initializing again"
		case r.Status == Ready && needs:
			r.Status, r.StatusReason = Updating, reason+": replacing replicas one by one"
		}
		return &Event{Reason: reason}, nil
	})
	if err == nil {
		m.kick(name)
	}
	return r, err
}

// Stop moves a deployment to Stopped: its replicas drain and go, and nothing
// wakes it until Start.
func (m *Manager) Stop(ctx context.Context, name string) (Record, error) {
	return m.set(ctx, name, Stopped, "stopped through the API")
}

// Start moves a Stopped (or Errored) deployment to Standby, from where a
// request or min_replicas wakes it.
func (m *Manager) Start(ctx context.Context, name string) (Record, error) {
	r, err := m.Records.Update(ctx, name, func(r *Record) (*Event, error) {
		if r.Status != Stopped && r.Status != Errored {
			return nil, &TransitionError{From: r.Status, To: Standby, Reason: "start applies to a Stopped or Errored deployment"}
		}
		r.Status, r.StatusReason = Standby, "started through the API"
		return &Event{Reason: r.StatusReason}, nil
	})
	if err == nil {
		m.kick(name)
	}
	return r, err
}

// Delete moves a deployment to Deleted; its replicas drain and go. The record
// stays, so its status and events can still be read.
func (m *Manager) Delete(ctx context.Context, name string) (Record, error) {
	return m.set(ctx, name, Deleted, "deleted through the API")
}

func (m *Manager) set(ctx context.Context, name string, to Status, reason string) (Record, error) {
	r, err := m.SetStatus(ctx, name, nil, to, reason)
	if err == nil {
		m.kick(name)
	}
	return r, err
}

// Live counts the deployment's live replicas.
func (m *Manager) Live(name string) int {
	n := 0
	for _, r := range m.cfg.Provider.List(name) {
		if r.Phase == PhaseLive {
			n++
		}
	}
	return n
}

// Provider is the provider the manager's replicas run on.
func (m *Manager) Provider() Provider { return m.cfg.Provider }
