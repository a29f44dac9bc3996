package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/graft-ai/graft/deploy/state"
)

// Record is a deployment as stored: its spec and where it stands.
type Record struct {
	Name         string
	Spec         Spec
	Status       Status
	StatusReason string
	StatusTime   time.Time
	// Generation moves with every spec change; ReplicaGeneration is the
	// generation whose spec replicas run (scaling changes do not move it).
	Generation, ReplicaGeneration int64
	Desired                       int
	Created, Updated              time.Time
	// Owner is the tenant that created a dedicated deployment; other tenants
	// cannot see or use it. Serverless deployments are everyone's.
	Owner string
}

// Event is one status change (or spec change) in a deployment's history.
type Event struct {
	ID               string
	Time             time.Time
	Status, Previous Status
	Reason           string
	Generation       int64
}

// ErrNotFound and ErrExists are state's, so callers need not import it.
var (
	ErrNotFound = state.ErrNotFound
	ErrExists   = state.ErrExists
)

// Records reads and changes deployment records in Redis, checking every
// status change against the table.
type Records struct {
	Store *state.Store
}

func fromState(d state.Deployment) (Record, error) {
	r := Record{Name: d.Name, Status: Status(d.Status), StatusReason: d.StatusReason, StatusTime: d.StatusTime,
		Generation: d.Generation, ReplicaGeneration: d.ReplicaGeneration, Desired: d.Desired,
		Created: d.Created, Updated: d.Updated, Owner: d.Owner}
	// Stored specs are not re-validated: a model file removed since must not
	// make the record unreadable (the replica will say what is wrong).
	if err := json.Unmarshal([]byte(d.Spec), &r.Spec); err != nil {
		return Record{}, fmt.Errorf("deployment %s: stored spec: %w", d.Name, err)
	}
	return r, nil
}

func toState(r Record) (state.Deployment, error) {
	b, err := json.Marshal(r.Spec)
	if err != nil {
		return state.Deployment{}, err
	}
	return state.Deployment{Name: r.Name, Spec: string(b), Status: string(r.Status), StatusReason: r.StatusReason,
		StatusTime: r.StatusTime, Generation: r.Generation, ReplicaGeneration: r.ReplicaGeneration,
		Desired: r.Desired, Created: r.Created, Updated: r.Updated, Owner: r.Owner}, nil
}

// Create stores a new deployment as Pending, generation 1.
func (rs Records) Create(ctx context.Context, name string, spec Spec) (Record, error) {
	return rs.CreateFor(ctx, "", name, spec)
}

// CreateFor is Create on behalf of tenant owner.
func (rs Records) CreateFor(ctx context.Context, owner, name string, spec Spec) (Record, error) {
	if err := CheckName(name); err != nil {
		return Record{}, err
	}
	r := Record{Name: name, Spec: spec, Status: Pending, StatusReason: "created", Generation: 1, ReplicaGeneration: 1, Owner: owner}
	d, err := toState(r)
	if err != nil {
		return Record{}, err
	}
	if err := rs.Store.CreateDeployment(ctx, d, r.StatusReason); err != nil {
		return Record{}, err
	}
	return rs.Get(ctx, name)
}

// Get reads one deployment.
func (rs Records) Get(ctx context.Context, name string) (Record, error) {
	d, err := rs.Store.GetDeployment(ctx, name)
	if err != nil {
		return Record{}, err
	}
	return fromState(d)
}

// List reads every deployment, Deleted ones included.
func (rs Records) List(ctx context.Context) ([]Record, error) {
	ds, err := rs.Store.Deployments(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(ds))
	for _, d := range ds {
		r, err := fromState(d)
		if err != nil {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// Change is what an Update does to a record; it returns the event to append
// (nil for none) or an error to abort with.
type Change func(r *Record) (*Event, error)

// Update applies change atomically. A status change it makes is checked
// against the table: an illegal one aborts with a *TransitionError and
// nothing is written.
func (rs Records) Update(ctx context.Context, name string, change Change) (Record, error) {
	var out Record
	_, err := rs.Store.UpdateDeployment(ctx, name, func(d *state.Deployment) (*state.DeploymentEvent, error) {
		r, err := fromState(*d)
		if err != nil {
			return nil, err
		}
		from := r.Status
		ev, err := change(&r)
		if err != nil {
			return nil, err
		}
		if r.Status != from {
			if err := CheckTransition(from, r.Status); err != nil {
				return nil, err
			}
			if ev == nil {
				ev = &Event{Reason: r.StatusReason}
			}
		}
		nd, err := toState(r)
		if err != nil {
			return nil, err
		}
		*d = nd
		out = r
		if ev == nil {
			return nil, nil
		}
		return &state.DeploymentEvent{Reason: ev.Reason, Generation: ev.Generation}, nil
	})
	return out, err
}

// SetStatus moves a deployment to status with reason, if the table allows it
// from where it is now. from, when not empty, must be the current status (so
// a decision made on a stale read is not applied).
func (rs Records) SetStatus(ctx context.Context, name string, from []Status, to Status, reason string) (Record, error) {
	return rs.Update(ctx, name, func(r *Record) (*Event, error) {
		if len(from) > 0 && !slices.Contains(from, r.Status) {
			return nil, &StaleError{Want: from, Got: r.Status}
		}
		if r.Status == to {
			return nil, CheckTransition(to, to) // refused: it already is
		}
		r.Status, r.StatusReason = to, reason
		return &Event{Reason: reason}, nil
	})
}

// StaleError: the record is no longer in the status a decision was made on.
type StaleError struct {
	Want []Status
	Got  Status
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("deployment is %s now, not %v", e.Got, e.Want)
}

// Events returns up to n events after the event id after ("" = from the start).
func (rs Records) Events(ctx context.Context, name, after string, n int64) ([]Event, error) {
	evs, err := rs.Store.DeploymentEvents(ctx, name, after, n)
	if err != nil {
		return nil, err
	}
	out := make([]Event, len(evs))
	for i, e := range evs {
		out[i] = Event{ID: e.ID, Time: e.Time, Status: Status(e.Status), Previous: Status(e.Previous), Reason: e.Reason, Generation: e.Generation}
	}
	return out, nil
}

// IsTransitionError reports whether err is a refused status change.
func IsTransitionError(err error) bool {
	var te *TransitionError
	return errors.As(err, &te)
}
