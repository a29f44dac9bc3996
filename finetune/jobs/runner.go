package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/graft-ai/graft/finetune/dataset"
)

// Launcher starts the trainer of one job; the local provider runs it as a
// child process (see Process).
type Launcher interface {
	Launch(ctx context.Context, spec TrainSpec) (Trainer, error)
}

// Trainer is a started training run.
type Trainer interface {
	// Done is closed once the run has ended; Err then says how.
	Done() <-chan struct{}
	Err() error
	// Stop ends the run early and waits for it.
	Stop()
	// Log is the tail of its output, for a failed job's message.
	Log() string
}

// RunnerConfig describes the runner of one machine.
type RunnerConfig struct {
	Service *Service
	// Dir holds each job's work folder: its trainer config, checkpoints,
	// event log and the adapter before it is published.
	Dir string
	// AdapterRoot is where adapters are published: the adapter
	// "ft/TENANT/NAME" of deployment D lands in AdapterRoot/D/TENANT/NAME,
	// the folder D's replicas load fine-tuned adapters from.
	AdapterRoot string
	Launcher    Launcher
	// Slots is how many jobs train at once on this machine; default 1.
	Slots int
	// LeaseTTL is how long a job stays this runner's once it stops renewing
	// (a crashed control process); default 15s.
	LeaseTTL time.Duration
	// Poll is how often the queue and a running job are checked; default 500ms.
	Poll time.Duration
	Log  *slog.Logger
}

// Runner takes queued jobs and trains them, one at a time by default.
type Runner struct {
	cfg   RunnerConfig
	svc   *Service
	owner string

	mu      sync.Mutex
	running map[string]bool
	wg      sync.WaitGroup
}

// NewRunner checks cfg and returns a runner; Run starts it.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	if cfg.Service == nil || cfg.Launcher == nil || cfg.Dir == "" || cfg.AdapterRoot == "" {
		return nil, errors.New("jobs: a runner needs a service, a launcher, a work folder and an adapter root")
	}
	if cfg.Slots <= 0 {
		cfg.Slots = 1
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 15 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 500 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	for _, d := range []string{cfg.Dir, cfg.AdapterRoot} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	host, _ := os.Hostname()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return &Runner{cfg: cfg, svc: cfg.Service, owner: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b)),
		running: map[string]bool{}}, nil
}

// Run works the queue until ctx ends, then stops its trainers (their jobs
// stay running, to be resumed from their checkpoints by the next runner) and
// returns.
func (r *Runner) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Poll)
	defer t.Stop()
	for {
		r.pass(ctx)
		select {
		case <-ctx.Done():
			r.wg.Wait()
			return
		case <-t.C:
		case <-r.svc.Wake:
		}
	}
}

// pass looks at every unfinished job once, oldest first.
func (r *Runner) pass(ctx context.Context) {
	ids, err := r.svc.State.ActiveTuningJobs(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.cfg.Log.Warn("fine-tuning: reading the queue", "err", err)
		}
		return
	}
	for _, id := range ids {
		j, err := r.svc.load(ctx, id)
		if err != nil {
			continue
		}
		switch j.Status {
		case ValidatingFiles:
			r.validate(ctx, j)
		case Queued, Running:
			r.maybeStart(ctx, j)
		}
	}
}

// validate checks the job's files line by line; a bad line fails the job
// with the line and the reason.
func (r *Runner) validate(ctx context.Context, j Job) {
	check := []struct{ param, id string }{{"training_file", j.TrainingFile}}
	if j.ValidationFile != nil {
		check = append(check, struct{ param, id string }{"validation_file", *j.ValidationFile})
	}
	for _, c := range check {
		if _, err := r.svc.Files.Get(ctx, j.Internal.Tenant, c.id); err != nil {
			r.fail(ctx, j.ID, "invalid_"+c.param, c.param, fmt.Sprintf("The %s %s could not be read: %v.", strings.ReplaceAll(c.param, "_", " "), c.id, err))
			return
		}
		if _, err := dataset.ParseFile(r.svc.Files.Path(c.id)); err != nil {
			r.fail(ctx, j.ID, "invalid_"+c.param, c.param, fmt.Sprintf("The %s %s is not a valid fine-tuning file: %v.", strings.ReplaceAll(c.param, "_", " "), c.id, err))
			return
		}
	}
	_, err := r.svc.update(ctx, j.ID, func(j *Job) error {
		if j.Status != ValidatingFiles {
			return errSkip
		}
		j.Status = Queued
		return nil
	})
	if err == nil {
		r.svc.event(ctx, j.ID, "info", "Files validated, moving job to queued state", nil)
	}
}

var errSkip = errors.New("job moved on")

func (r *Runner) fail(ctx context.Context, id, code, param, msg string) {
	_, err := r.svc.update(ctx, id, func(j *Job) error {
		if Finished(j.Status) {
			return errSkip
		}
		j.Status = Failed
		j.FinishedAt = unix(time.Now())
		j.Error = &JobError{Code: code, Message: msg}
		if param != "" {
			j.Error.Param = &param
		}
		return nil
	})
	if err == nil {
		r.svc.event(ctx, id, "error", msg, nil)
		r.cfg.Log.Info("fine-tuning job failed", "job", id, "code", code, "why", msg)
	}
}

// maybeStart takes the job when a slot is free and no runner holds it.
func (r *Runner) maybeStart(ctx context.Context, j Job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running[j.ID] || len(r.running) >= r.cfg.Slots || ctx.Err() != nil {
		return
	}
	ok, err := r.svc.State.AcquireTuningLease(ctx, j.ID, r.owner, r.cfg.LeaseTTL)
	if err != nil || !ok {
		return
	}
	r.running[j.ID] = true
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() {
			r.mu.Lock()
			delete(r.running, j.ID)
			r.mu.Unlock()
			_ = r.svc.State.ReleaseTuningLease(context.WithoutCancel(ctx), j.ID, r.owner)
			r.svc.wake()
		}()
		r.train(ctx, j.ID)
	}()
}
