// Package local is the embedded provider: each replica is a pod (`graft
// serve`: engine and sidecar) run as a child process of this graft on its own
// 127.0.0.1 port, so a crashing replica cannot take the control process down.
// A replica is live once its sidecar's /readyz answers and its heartbeat is in
// Redis; one that is not live within ReadyTimeout is killed and reported
// failed with its own last error line.
package local

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/state"
)

// Config describes where and how replicas run.
type Config struct {
	// Exe is the graft binary children run; default this process's own.
	Exe string
	// Env is added to the children's environment (this process's is inherited).
	Env []string
	// Redis is the URL replicas publish their heartbeat to, and Store reads
	// them back (the same Redis).
	Redis string
	Store *state.Store
	// AdapterCache is the adapter cache folder every replica shares;
	// default the user cache dir.
	AdapterCache string
	// TunedRoot, when set, holds each deployment's fine-tuned adapters in
	// TunedRoot/DEPLOYMENT, which its replicas serve as "ft/..." ids.
	TunedRoot string
	// ReadyTimeout bounds start to live; default 5m.
	ReadyTimeout time.Duration
	// HeartbeatTTL is the replicas' --heartbeat-ttl; default 5s.
	HeartbeatTTL time.Duration
	// Unhealthy is how long a live replica may fail /readyz before it is
	// killed and reported exited (so it is replaced); default 30s.
	Unhealthy time.Duration
	// Drain is how long a stopping replica's running requests may take;
	// default 5m. A replica still running after Drain+10s is killed.
	Drain time.Duration
	// TempDir is where each replica gets a private TMPDIR, removed when the
	// replica exits however it exits: a pod killed mid-run cannot remove
	// what it made there (its engine's socket folder); default os.TempDir().
	TempDir string
	Log     *slog.Logger
}

// Provider is the local provider. Stop its replicas with Close.
type Provider struct {
	cfg Config

	mu       sync.Mutex
	replicas map[string]*replica // by deployment/id
	changed  chan struct{}
	wg       sync.WaitGroup
}

var _ deploy.Provider = (*Provider)(nil)

// New returns a provider; it starts nothing until Start.
func New(cfg Config) (*Provider, error) {
	if cfg.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("local provider: the graft binary: %w", err)
		}
		cfg.Exe = exe
	}
	if cfg.Redis == "" || cfg.Store == nil {
		return nil, fmt.Errorf("local provider: replicas need a Redis URL and a Store to be seen live")
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 5 * time.Minute
	}
	if cfg.HeartbeatTTL <= 0 {
		cfg.HeartbeatTTL = 5 * time.Second
	}
	if cfg.Unhealthy <= 0 {
		cfg.Unhealthy = 30 * time.Second
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 5 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Provider{cfg: cfg, replicas: map[string]*replica{}, changed: make(chan struct{})}, nil
}

func key(deployment, id string) string { return deployment + "/" + id }

// Start launches the replica's process and returns; see deploy.Provider.
func (p *Provider) Start(_ context.Context, rs deploy.ReplicaSpec) error {
	if err := state.CheckName(rs.ID); err != nil {
		return fmt.Errorf("replica id %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	k := key(rs.Deployment, rs.ID)
	if _, ok := p.replicas[k]; ok {
		return fmt.Errorf("replica %s already exists", k)
	}
	r := &replica{p: p, spec: rs, stop: make(chan struct{}),
		info: deploy.Replica{Deployment: rs.Deployment, ID: rs.ID, Generation: rs.Generation,
			Phase: deploy.PhaseStarting, Started: time.Now()}}
	p.replicas[k] = r
	p.wg.Add(1)
	go func() { defer p.wg.Done(); r.run() }()
	p.notifyLocked()
	return nil
}

// Stop asks the replica to drain and exit; a failed or exited one is simply
// forgotten.
func (p *Provider) Stop(_ context.Context, deployment, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.replicas[key(deployment, id)]
	if !ok {
		return nil
	}
	switch r.info.Phase {
	case deploy.PhaseFailed, deploy.PhaseExited:
		delete(p.replicas, key(deployment, id))
	case deploy.PhaseStopping:
		return nil
	default:
		r.info.Phase = deploy.PhaseStopping
		close(r.stop)
	}
	p.notifyLocked()
	return nil
}

// List returns the deployment's replicas sorted by id.
func (p *Provider) List(deployment string) []deploy.Replica {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []deploy.Replica
	for _, r := range p.replicas {
		if r.info.Deployment == deployment {
			out = append(out, r.info)
		}
	}
	slices.SortFunc(out, func(a, b deploy.Replica) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Watch returns a channel closed at the next phase change.
func (p *Provider) Watch() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// Close stops every replica and waits for them to exit.
func (p *Provider) Close() {
	p.mu.Lock()
	for k, r := range p.replicas {
		switch r.info.Phase {
		case deploy.PhaseFailed, deploy.PhaseExited:
			delete(p.replicas, k)
		case deploy.PhaseStopping:
		default:
			r.info.Phase = deploy.PhaseStopping
			close(r.stop)
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// PIDs returns the process id of each running replica of a deployment, by
// replica id, for operators and tests that need to signal one.
func (p *Provider) PIDs(deployment string) map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for _, r := range p.replicas {
		if r.info.Deployment == deployment && r.pid != 0 {
			out[r.info.ID] = r.pid
		}
	}
	return out
}

// set changes a replica's listing under the lock and tells watchers.
func (p *Provider) set(r *replica, f func(info *deploy.Replica)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(&r.info)
	p.notifyLocked()
}

// gone removes a replica whose process has ended, unless its failure is
// being kept for the controller to read.
func (p *Provider) gone(r *replica) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := key(r.info.Deployment, r.info.ID)
	if p.replicas[k] == r {
		delete(p.replicas, k)
	}
	p.notifyLocked()
}

func (p *Provider) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// args is the `graft serve` command line of a replica. Every flag the spec
// decides is given, even at its default, so a GRAFT_* variable in this
// process's environment (which the child inherits) cannot change a replica.
func (p *Provider) args(rs deploy.ReplicaSpec) ([]string, error) {
	s := rs.Spec
	root, err := s.AdapterRoot()
	if err != nil {
		return nil, err
	}
	device := s.Device
	if device == "" {
		device = "cpu" // graft serve's default
	}
	args := []string{"serve", "--model", s.BaseModel, "--listen-fd", "3",
		"--served-model-name", rs.Deployment,
		"--deployment", rs.Deployment, "--replica-id", rs.ID,
		"--heartbeat-ttl", p.cfg.HeartbeatTTL.String(), "--drain-timeout", p.cfg.Drain.String(),
		"--log-format", "text",
		"--adapter-root", root, "--adapter-cache", p.cfg.AdapterCache,
		"--threads", fmt.Sprint(s.Threads), "--max-active-adapters", fmt.Sprint(s.MaxActiveAdapters),
		"--max-model-len", fmt.Sprint(s.ContextLength), "--device", device}
	if p.cfg.TunedRoot != "" {
		// The folder must exist before the replica opens it; adapters
		// appear in it later, as jobs finish.
		tuned := filepath.Join(p.cfg.TunedRoot, rs.Deployment)
		if err := os.MkdirAll(tuned, 0o755); err != nil {
			return nil, err
		}
		args = append(args, "--tuned-adapter-root", tuned)
	}
	return args, nil
}
