package control

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/console"
	"github.com/graft-ai/graft/deploy/state"
	ftapi "github.com/graft-ai/graft/finetune/api"
	"github.com/graft-ai/graft/finetune/files"
	"github.com/graft-ai/graft/finetune/jobs"
)

// fineTuning is the files and fine-tuning API with the runner training its
// jobs on this machine.
type fineTuning struct {
	api    ftapi.Config
	runner *jobs.Runner
	svc    *jobs.Service
}

// tunedRoot is where the fine-tuned adapters of deployments live under dir.
func tunedRoot(dir string) string { return filepath.Join(dir, "adapters") }

func newFineTuning(cfg Config, st *state.Store, m *deploy.Manager) (*fineTuning, error) {
	fs, err := files.NewStore(st, filepath.Join(cfg.FineTune, "files"))
	if err != nil {
		return nil, &ConfigError{Field: "FineTune", Err: err}
	}
	svc := &jobs.Service{State: st, Files: fs, Resolve: resolver(m.Records), Wake: make(chan struct{}, 1)}
	r, err := jobs.NewRunner(jobs.RunnerConfig{Service: svc, Dir: filepath.Join(cfg.FineTune, "jobs"),
		AdapterRoot: tunedRoot(cfg.FineTune), Launcher: jobs.Process{Exe: cfg.Exe, Env: cfg.Env}, Slots: cfg.FineTuneSlots})
	if err != nil {
		return nil, &ConfigError{Field: "FineTune", Err: err}
	}
	return &fineTuning{api: ftapi.Config{Files: fs, Jobs: svc}, runner: r, svc: svc}, nil
}

// resolver finds the deployment a job's model names: a deployment by name,
// else one whose base model is that path, among those tenant may use.
func resolver(rs deploy.Records) jobs.Resolver {
	return func(ctx context.Context, tenant, model string) (jobs.Target, error) {
		usable := func(r deploy.Record) bool {
			return r.Status != deploy.Deleted && (r.Spec.Type == deploy.Serverless || r.Owner == "" || r.Owner == tenant)
		}
		target := func(r deploy.Record) (jobs.Target, error) {
			if strings.Contains(r.Spec.BaseModel, "://") {
				return jobs.Target{}, &jobs.RequestError{Status: 400, Code: "invalid_value", Param: "model",
					Msg: fmt.Sprintf("deployment %s serves %s: Graft trains on base models stored on this machine only", r.Name, r.Spec.BaseModel)}
			}
			return jobs.Target{Deployment: r.Name, BaseModel: r.Spec.BaseModel}, nil
		}
		if deploy.CheckName(model) == nil {
			r, err := rs.Get(ctx, model)
			if err == nil && usable(r) {
				return target(r)
			}
			if err != nil && !errors.Is(err, deploy.ErrNotFound) {
				return jobs.Target{}, err
			}
		}
		all, err := rs.List(ctx)
		if err != nil {
			return jobs.Target{}, err
		}
		slices.SortFunc(all, func(a, b deploy.Record) int { return strings.Compare(a.Name, b.Name) })
		for _, r := range all {
			if usable(r) && samePath(r.Spec.BaseModel, model) {
				return target(r)
			}
		}
		return jobs.Target{}, &jobs.RequestError{Status: 404, Code: "model_not_found", Param: "model",
			Msg: fmt.Sprintf("The model %q is no deployment you may use, nor the base model of one: fine-tuned adapters are served by a deployment of their base model.", model)}
	}
}

func samePath(a, b string) bool {
	return a == b || filepath.Clean(a) == filepath.Clean(b)
}

// consoleJobs shows the jobs on the console's fine-tuning page.
type consoleJobs struct{ svc *jobs.Service }

func (c consoleJobs) Recent(ctx context.Context, limit int) ([]console.TuningJob, error) {
	js, err := c.svc.Recent(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]console.TuningJob, 0, len(js))
	for _, j := range js {
		t := console.TuningJob{ID: j.ID, Tenant: j.Internal.Tenant, Model: j.Model, Deployment: j.Internal.Deployment,
			Status: j.Status, Created: time.Unix(j.CreatedAt, 0).UTC(), Step: j.Internal.LastStep, TotalSteps: j.Internal.TotalSteps}
		if j.FineTunedModel != nil {
			t.FineTunedModel = *j.FineTunedModel
		}
		if j.Error != nil {
			t.Error = j.Error.Message
		}
		if t.TrainLoss, t.ValidLoss, err = c.svc.Loss(ctx, j.ID); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}
