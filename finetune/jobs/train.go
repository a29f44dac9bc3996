package jobs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/graft-ai/graft/finetune/files"
)

// TrainConfig is the trainer's job file ("graft train --config"): its
// Config, field names as in Go.
type TrainConfig struct {
	BaseModel       string
	TrainFile       string
	ValidFile       string
	OutputDir       string
	CheckpointDir   string
	Epochs          int
	BatchSize       int
	LearningRate    float64
	Rank            int
	Alpha           float64
	Dropout         float64
	TargetModules   []string
	Seed            int64
	CheckpointEvery int
}

// TrainSpec is one run of a job's trainer.
type TrainSpec struct {
	JobID      string
	Run        int // 1 for the first run, then one more for each resume
	Config     TrainConfig
	ConfigPath string // where Config is written as JSON
	EventsPath string // the trainer appends one JSON event per line
	LogPath    string // its stdout and stderr
}

// trainEvent is one line of the trainer's event log.
type trainEvent struct {
	Step, TotalSteps, Epoch int
	TrainLoss               float64
	ValidLoss               *float64
	LearningRate            float64
	Tokens                  int
	Time                    time.Time
	Message                 string
}

// CheckpointEvery is how many optimizer steps the trainer goes between
// checkpoints: the work a restart may redo.
const CheckpointEvery = 10

// train runs the job's trainer to its end, or until the job is cancelled,
// the lease is lost or ctx ends (then the job stays running for the next
// runner to resume).
func (r *Runner) train(ctx context.Context, id string) {
	j, err := r.svc.update(ctx, id, func(j *Job) error {
		if j.Status != Queued && j.Status != Running {
			return errSkip
		}
		j.Status = Running
		j.Internal.Attempts++
		if j.Internal.StartedAt == 0 {
			j.Internal.StartedAt = time.Now().Unix()
		}
		return nil
	})
	if err != nil {
		return
	}
	dir := filepath.Join(r.cfg.Dir, id)
	spec := r.spec(j, dir)
	if err := r.prepare(spec); err != nil {
		r.fail(ctx, id, "server_error", "", "Preparing the training run failed: "+err.Error())
		return
	}
	if j.Internal.Attempts == 1 {
		r.svc.event(ctx, id, "info", "Fine-tuning job started", nil)
	} else {
		r.svc.event(ctx, id, "info", fmt.Sprintf("Fine-tuning job resumed from its last checkpoint (run %d)", j.Internal.Attempts), nil)
	}
	r.cfg.Log.Info("fine-tuning job training", "job", id, "deployment", j.Internal.Deployment, "run", j.Internal.Attempts)
	tr, err := r.cfg.Launcher.Launch(ctx, spec)
	if err != nil {
		r.fail(ctx, id, "server_error", "", "Starting the trainer failed: "+err.Error())
		return
	}
	tail := &tailer{path: spec.EventsPath}
	t := time.NewTicker(r.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-tr.Done():
			r.record(ctx, id, tail)
			r.finish(ctx, id, spec, tr)
			// Finished one way or the other: nothing resumes from the
			// checkpoints (the events and the log stay, for the record).
			os.RemoveAll(spec.Config.CheckpointDir)
			return
		case <-ctx.Done():
			tr.Stop()
			r.record(context.WithoutCancel(ctx), id, tail)
			r.cfg.Log.Info("fine-tuning job interrupted; it resumes from its checkpoint on the next start", "job", id)
			return
		case <-t.C:
		}
		r.record(ctx, id, tail)
		if ok, err := r.svc.State.RenewTuningLease(ctx, id, r.owner, r.cfg.LeaseTTL); err == nil && !ok {
			r.cfg.Log.Warn("fine-tuning job: lease lost; stopping its trainer", "job", id)
			tr.Stop()
			return
		}
		if cur, err := r.svc.load(ctx, id); err == nil && cur.Status == Cancelled {
			tr.Stop()
			os.RemoveAll(spec.Config.OutputDir)
			os.RemoveAll(spec.Config.CheckpointDir)
			r.cfg.Log.Info("fine-tuning job cancelled; trainer stopped", "job", id)
			return
		}
	}
}

func (r *Runner) spec(j Job, dir string) TrainSpec {
	h := j.Hyperparameters
	c := TrainConfig{BaseModel: j.Internal.BaseModel, TrainFile: r.svc.Files.Path(j.TrainingFile),
		OutputDir: filepath.Join(dir, "adapter"), CheckpointDir: filepath.Join(dir, "checkpoint"),
		Epochs: h.NEpochs, BatchSize: h.BatchSize, LearningRate: BaseLearningRate * h.LearningRateMultiplier,
		Rank: h.LoRARank, Alpha: h.LoRAAlpha, Dropout: h.LoRADropout, TargetModules: h.TargetModules,
		Seed: j.Seed, CheckpointEvery: CheckpointEvery}
	if j.ValidationFile != nil {
		c.ValidFile = r.svc.Files.Path(*j.ValidationFile)
	}
	run := j.Internal.Attempts
	return TrainSpec{JobID: j.ID, Run: run, Config: c, ConfigPath: filepath.Join(dir, "train.json"),
		EventsPath: filepath.Join(dir, fmt.Sprintf("events-%d.jsonl", run)),
		LogPath:    filepath.Join(dir, fmt.Sprintf("train-%d.log", run))}
}

// prepare writes the trainer's config; an adapter left by an interrupted
// run is removed (the trainer writes it only at the end).
func (r *Runner) prepare(spec TrainSpec) error {
	if err := os.MkdirAll(spec.Config.CheckpointDir, 0o755); err != nil {
		return err
	}
	if err := os.RemoveAll(spec.Config.OutputDir); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(spec.Config, "", "  ")
	return os.WriteFile(spec.ConfigPath, b, 0o644)
}

// finish publishes the adapter of a trainer that succeeded, or fails the job.
func (r *Runner) finish(ctx context.Context, id string, spec TrainSpec, tr Trainer) {
	cur, err := r.svc.load(ctx, id)
	if err != nil || cur.Status != Running {
		os.RemoveAll(spec.Config.OutputDir)
		return
	}
	if err := tr.Err(); err != nil {
		msg := "Training failed: " + err.Error()
		if l := strings.TrimSpace(tr.Log()); l != "" {
			msg = "Training failed: " + l
		}
		r.fail(ctx, id, "training_failed", "", msg)
		return
	}
	if err := r.publish(ctx, cur, spec.Config.OutputDir); err != nil {
		if !errors.Is(err, errSkip) {
			r.fail(ctx, id, "server_error", "", "Publishing the adapter failed: "+err.Error())
		}
	}
}

// publish moves the adapter into the deployment's fine-tuned adapter folder,
// then marks the job succeeded; a job cancelled in between loses it again.
func (r *Runner) publish(ctx context.Context, j Job, out string) error {
	for _, f := range []string{"adapter_config.json", "adapter_model.safetensors"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			return fmt.Errorf("the trainer wrote no %s", f)
		}
	}
	dst := r.AdapterDir(j.Internal.Deployment, j.Internal.Adapter)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	// Private before it can be named: only the tenant that trained it
	// may use it (the gateway answers others as if it did not exist).
	if err := r.svc.State.SetAdapterOwner(ctx, j.Internal.Deployment, j.Internal.Adapter, j.Internal.Tenant); err != nil {
		return err
	}
	if err := os.Rename(out, dst); err != nil {
		return err
	}
	results, err := r.results(ctx, j)
	if err != nil {
		os.RemoveAll(dst)
		return err
	}
	model := j.Internal.Deployment + "/" + j.Internal.Adapter
	_, err = r.svc.update(ctx, j.ID, func(j *Job) error {
		if j.Status != Running {
			return errSkip
		}
		j.Status = Succeeded
		j.FinishedAt = unix(time.Now())
		j.FineTunedModel = &model
		j.ResultFiles = []string{results.ID}
		return nil
	})
	if err != nil {
		os.RemoveAll(dst)
		_ = r.svc.Files.Delete(context.WithoutCancel(ctx), j.Internal.Tenant, results.ID)
		return err
	}
	r.svc.event(ctx, j.ID, "info", "New fine-tuned model created: "+model, nil)
	r.svc.event(ctx, j.ID, "info", "The job has successfully completed", nil)
	r.cfg.Log.Info("fine-tuning job succeeded", "job", j.ID, "model", model)
	return nil
}

// results keeps the job's step metrics as its tenant's result file.
func (r *Runner) results(ctx context.Context, j Job) (files.File, error) {
	csv, err := r.svc.resultCSV(ctx, j.ID)
	if err != nil {
		return files.File{}, fmt.Errorf("collecting the step metrics: %w", err)
	}
	return r.svc.Files.PutResult(ctx, j.Internal.Tenant, "step_metrics.csv", csv)
}

// AdapterDir is where adapter id ("ft/TENANT/NAME") of deployment is published.
func (r *Runner) AdapterDir(deployment, adapter string) string {
	return filepath.Join(r.cfg.AdapterRoot, deployment, filepath.FromSlash(strings.TrimPrefix(adapter, "ft/")))
}

// record turns the trainer's new event lines into job events; steps a
// resumed run repeats (those after its checkpoint) are not recorded twice.
func (r *Runner) record(ctx context.Context, id string, tail *tailer) {
	evs := tail.read()
	if len(evs) == 0 {
		return
	}
	j, err := r.svc.load(ctx, id)
	if err != nil {
		return
	}
	last, tokens, total := j.Internal.LastStep, int64(0), j.Internal.TotalSteps
	for _, e := range evs {
		if e.Message != "" {
			r.svc.event(ctx, id, "info", e.Message, nil)
			continue
		}
		if e.Step <= last {
			continue
		}
		last, total = e.Step, e.TotalSteps
		tokens += int64(e.Tokens)
		msg := fmt.Sprintf("Step %d/%d: training loss=%.4f", e.Step, e.TotalSteps, e.TrainLoss)
		data := map[string]any{"step": e.Step, "total_steps": e.TotalSteps, "epoch": e.Epoch,
			"train_loss": e.TrainLoss, "learning_rate": e.LearningRate, "tokens": e.Tokens}
		if e.ValidLoss != nil {
			msg += fmt.Sprintf(", validation loss=%.4f", *e.ValidLoss)
			data["valid_loss"] = *e.ValidLoss
		}
		r.svc.event(ctx, id, "info", msg, data)
	}
	_, _ = r.svc.update(ctx, id, func(j *Job) error {
		j.Internal.LastStep, j.Internal.TotalSteps = last, total
		if tokens > 0 {
			t := tokens
			if j.TrainedTokens != nil {
				t += *j.TrainedTokens
			}
			j.TrainedTokens = &t
		}
		if total > 0 && last > 0 && last < total && j.Internal.StartedAt > 0 {
			// A linear guess from the steps done so far in this run.
			el := time.Now().Unix() - j.Internal.StartedAt
			fin := time.Now().Unix() + el*int64(total-last)/int64(last)
			j.EstimatedFinish = &fin
		}
		return nil
	})
}

// tailer reads the complete lines appended to a file since the last read.
type tailer struct {
	path string
	off  int64
}

func (t *tailer) read() []trainEvent {
	f, err := os.Open(t.path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(t.off, 0); err != nil {
		return nil
	}
	var out []trainEvent
	br := bufio.NewReader(f)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			return out // a partial last line is read again next time
		}
		t.off += int64(len(line))
		var e trainEvent
		if json.Unmarshal(bytes.TrimSpace(line), &e) == nil {
			out = append(out, e)
		}
	}
}
