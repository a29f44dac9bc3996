package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/finetune/files"
)

// Target is where a job's adapter will be served: a deployment and the base
// model its replicas run (what the trainer trains on).
type Target struct {
	Deployment string
	BaseModel  string
}

// Resolver maps a job's model (a deployment's name or its base model) onto
// the deployment tenant may use; not found is a *RequestError.
type Resolver func(ctx context.Context, tenant, model string) (Target, error)

// Service is the jobs API over Redis.
type Service struct {
	State   *state.Store
	Files   *files.Store
	Resolve Resolver
	// Wake, when set, is signalled after each change a runner acts on.
	Wake chan struct{}
}

// ErrNotFound is a job id that is not the tenant's.
var ErrNotFound = errors.New("no such fine-tuning job")

// Create records a job from req for tenant; it starts validating_files.
func (s *Service) Create(ctx context.Context, tenant string, req Request) (Job, error) {
	tgt, err := s.Resolve(ctx, tenant, req.Model)
	if err != nil {
		return Job{}, err
	}
	if err := s.checkFile(ctx, tenant, "training_file", req.TrainingFile); err != nil {
		return Job{}, err
	}
	if req.ValidationFile != "" {
		if err := s.checkFile(ctx, tenant, "validation_file", req.ValidationFile); err != nil {
			return Job{}, err
		}
	}
	now := time.Now()
	j := Job{ID: files.NewID("ftjob-"), Object: "fine_tuning.job", CreatedAt: now.Unix(), Model: req.Model,
		OrganizationID: tenant, Status: ValidatingFiles, Hyperparameters: req.Hyper.resolved(),
		TrainingFile: req.TrainingFile, ResultFiles: []string{}, Integrations: req.Integrations, Metadata: req.Metadata,
		Internal: Internal{Tenant: tenant, Deployment: tgt.Deployment, BaseModel: tgt.BaseModel}}
	if j.Integrations == nil {
		j.Integrations = []json.RawMessage{}
	}
	if req.ValidationFile != "" {
		j.ValidationFile = &req.ValidationFile
	}
	if req.Suffix != "" {
		j.Suffix = &req.Suffix
	}
	if req.Seed != nil {
		j.Seed = *req.Seed
	} else {
		j.Seed = now.UnixNano() % 1_000_000_007
	}
	j.Method = &Method{Type: "supervised"}
	j.Method.Supervised.Hyperparameters = j.Hyperparameters
	j.Internal.Adapter = adapterID(tenant, req.Suffix, j.ID)
	rec, _ := json.Marshal(j)
	if err := s.State.PutTuningJob(ctx, j.ID, tenant, now, rec, true); err != nil {
		return Job{}, err
	}
	s.event(ctx, j.ID, "info", "Validating training file: "+req.TrainingFile, nil)
	s.wake()
	return j, nil
}

// checkFile says why tenant's file id cannot be a job's param.
func (s *Service) checkFile(ctx context.Context, tenant, param, id string) error {
	f, err := s.Files.Get(ctx, tenant, id)
	if errors.Is(err, files.ErrNotFound) {
		return &RequestError{Status: 400, Code: "invalid_" + param, Param: param,
			Msg: fmt.Sprintf("%s %q: no such file (upload it with purpose fine-tune first)", param, id)}
	}
	if err != nil {
		return err
	}
	if f.Purpose != files.PurposeFineTune {
		return &RequestError{Status: 400, Code: "invalid_" + param, Param: param,
			Msg: fmt.Sprintf("%s %q has purpose %s; a job trains on files uploaded with purpose fine-tune", param, id, f.Purpose)}
	}
	return nil
}

var notName = regexp.MustCompile(`[^a-z0-9-]+`)

// adapterID names the published adapter on its deployment: "ft/" marks a
// fine-tuned adapter and the tenant after it owns it (the gateway lets no
// other tenant use it); the name is the suffix and the job's id.
func adapterID(tenant, suffix, jobID string) string {
	name := strings.Trim(notName.ReplaceAllString(strings.ToLower(suffix), "-"), "-")
	short := strings.TrimPrefix(jobID, "ftjob-")
	if len(short) > 8 {
		short = short[:8]
	}
	if name == "" {
		return "ft/" + tenant + "/" + short
	}
	return "ft/" + tenant + "/" + name + "-" + short
}

// Get returns tenant's job id.
func (s *Service) Get(ctx context.Context, tenant, id string) (Job, error) {
	j, err := s.load(ctx, id)
	if err != nil {
		return Job{}, err
	}
	if j.Internal.Tenant != tenant {
		return Job{}, ErrNotFound
	}
	return j, nil
}

func (s *Service) load(ctx context.Context, id string) (Job, error) {
	if !strings.HasPrefix(id, "ftjob-") || len(id) > 80 || strings.ContainsAny(id, ":{}* \x00") {
		return Job{}, ErrNotFound
	}
	rec, err := s.State.TuningJob(ctx, id)
	if errors.Is(err, state.ErrNoRecord) {
		return Job{}, ErrNotFound
	}
	if err != nil {
		return Job{}, err
	}
	var j Job
	if err := json.Unmarshal(rec, &j); err != nil {
		return Job{}, fmt.Errorf("job %s: %w", id, err)
	}
	return j, nil
}

// List returns up to limit of tenant's jobs created before job after ("" for
// the newest), newest first, and whether more follow.
func (s *Service) List(ctx context.Context, tenant, after string, limit int) ([]Job, bool, error) {
	recs, err := s.State.TuningJobs(ctx, tenant)
	if err != nil {
		return nil, false, err
	}
	out := []Job{}
	skipping := after != ""
	for _, rec := range recs {
		var j Job
		if json.Unmarshal(rec, &j) != nil || j.Internal.Tenant != tenant {
			continue
		}
		if skipping {
			skipping = j.ID != after
			continue
		}
		if len(out) == limit {
			return out, true, nil
		}
		out = append(out, j)
	}
	return out, false, nil
}

// Cancel moves tenant's unfinished job to cancelled; its runner stops the
// trainer and publishes nothing. A finished job cannot be cancelled.
func (s *Service) Cancel(ctx context.Context, tenant, id string) (Job, error) {
	if _, err := s.Get(ctx, tenant, id); err != nil {
		return Job{}, err
	}
	j, err := s.update(ctx, id, func(j *Job) error {
		if Finished(j.Status) {
			return &RequestError{Status: 400, Code: "invalid_state", Param: "",
				Msg: fmt.Sprintf("Job %s is %s and cannot be cancelled.", id, j.Status)}
		}
		j.Status = Cancelled
		j.FinishedAt = unix(time.Now())
		return nil
	})
	if err == nil {
		s.event(ctx, id, "info", "Job cancelled by the user", nil)
		s.wake()
	}
	return j, err
}

// update changes a job atomically; f's error leaves it as it was.
func (s *Service) update(ctx context.Context, id string, f func(*Job) error) (Job, error) {
	var out Job
	_, err := s.State.UpdateTuningJob(ctx, id, func(rec []byte) ([]byte, bool, error) {
		var j Job
		if err := json.Unmarshal(rec, &j); err != nil {
			return nil, false, err
		}
		if err := f(&j); err != nil {
			return nil, false, err
		}
		out = j
		b, err := json.Marshal(j)
		return b, !Finished(j.Status), err
	})
	if errors.Is(err, state.ErrNoRecord) {
		err = ErrNotFound
	}
	return out, err
}

// Events returns up to limit of tenant's job's events older than event after
// ("" for the newest), newest first, and whether more follow.
func (s *Service) Events(ctx context.Context, tenant, id, after string, limit int) ([]Event, bool, error) {
	if _, err := s.Get(ctx, tenant, id); err != nil {
		return nil, false, err
	}
	before := ""
	if after != "" {
		before = strings.TrimPrefix(after, "ftevent-")
		if !validStreamID(before) {
			return nil, false, badParam("after", "after: want an event id such as ftevent-1733450000000-0")
		}
	}
	evs, err := s.State.TuningEvents(ctx, id, before, int64(limit)+1)
	if err != nil {
		return nil, false, err
	}
	more := len(evs) > limit
	if more {
		evs = evs[:limit]
	}
	out := make([]Event, 0, len(evs))
	for _, e := range evs {
		var ev Event
		if json.Unmarshal(e.Data, &ev) != nil {
			continue
		}
		ev.ID = "ftevent-" + e.ID
		ev.Object = "fine_tuning.job.event"
		out = append(out, ev)
	}
	return out, more, nil
}

func validStreamID(s string) bool {
	ms, seq, ok := strings.Cut(s, "-")
	if !ok || ms == "" || seq == "" {
		return false
	}
	for _, c := range ms + seq {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// event appends one event; a lost event is logged by the caller's logs, not
// an error of the operation that made it.
func (s *Service) event(ctx context.Context, id, level, msg string, data map[string]any) {
	typ := "message"
	if data != nil {
		typ = "metrics"
	}
	b, _ := json.Marshal(Event{CreatedAt: time.Now().Unix(), Level: level, Message: msg, Data: data, Type: typ})
	_, _ = s.State.AddTuningEvent(context.WithoutCancel(ctx), id, b)
}

func (s *Service) wake() {
	if s.Wake == nil {
		return
	}
	select {
	case s.Wake <- struct{}{}:
	default:
	}
}

// Recent returns the newest limit jobs of every tenant, for an admin's view.
func (s *Service) Recent(ctx context.Context, limit int) ([]Job, error) {
	recs, err := s.State.RecentTuningJobs(ctx, int64(limit))
	if err != nil {
		return nil, err
	}
	out := []Job{}
	for _, rec := range recs {
		var j Job
		if json.Unmarshal(rec, &j) == nil {
			out = append(out, j)
		}
	}
	return out, nil
}

// Loss is a job's loss per recorded step, oldest first: the training loss,
// and the validation loss where the step has one (NaN elsewhere).
func (s *Service) Loss(ctx context.Context, id string) (train, valid []float64, err error) {
	steps, err := s.metrics(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range steps {
		tl, ok := m["train_loss"].(float64)
		if !ok {
			continue
		}
		vl, ok := m["valid_loss"].(float64)
		if !ok {
			vl = math.NaN()
		}
		train, valid = append(train, tl), append(valid, vl)
	}
	return train, valid, nil
}

// metrics is the data of a job's metrics events, one per recorded step,
// oldest first.
func (s *Service) metrics(ctx context.Context, id string) ([]map[string]any, error) {
	evs, err := s.State.AllTuningEvents(ctx, id)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for _, e := range evs {
		var ev Event
		if json.Unmarshal(e.Data, &ev) == nil && ev.Type == "metrics" {
			out = append(out, ev.Data)
		}
	}
	return out, nil
}
