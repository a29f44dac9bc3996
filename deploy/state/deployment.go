package state

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Deployment is a deployment's record: its spec (JSON the deploy package
// owns), its status and the counters the controller keeps.
type Deployment struct {
	Name string
	Spec string // JSON
	// Status and StatusReason are the last status change; StatusTime is when.
	Status, StatusReason string
	StatusTime           time.Time
	// Generation counts spec changes; ReplicaGeneration is the generation
	// whose spec the replicas must run (it moves only when a change needs
	// new replicas).
	Generation, ReplicaGeneration int64
	// Desired is how many replicas the controller wants.
	Desired          int
	Created, Updated time.Time
	// Owner is the tenant a dedicated deployment belongs to ("" for none).
	Owner string
}

// DeploymentEvent is one entry of a deployment's event stream.
type DeploymentEvent struct {
	ID               string // the stream id, increasing
	Time             time.Time
	Status, Previous string
	Reason           string
	Generation       int64
}

// ErrNotFound is returned for a deployment with no record.
var ErrNotFound = errors.New("no such deployment")

// errDecode marks a record that is there but does not decode.
var errDecode = errors.New("record does not decode")

// ErrExists is returned by CreateDeployment when a live record has the name.
var ErrExists = errors.New("deployment already exists")

// maxEvents bounds each event stream (approximately, as XADD MAXLEN ~ does).
const maxEvents = 1000

const (
	dfSpec        = "spec"
	dfStatus      = "status"
	dfReason      = "status_reason"
	dfStatusMs    = "status_ms"
	dfGeneration  = "generation"
	dfReplicaGen  = "replica_generation"
	dfDesired     = "desired"
	dfCreatedMs   = "created_ms"
	dfUpdatedMs   = "updated_ms"
	dfOwner       = "owner"
	efStatus      = "status"
	efPrevious    = "previous"
	efReason      = "reason"
	efGeneration  = "generation"
	efTimeMs      = "time_ms"
	deletedStatus = "Deleted" // the status a name may be created again from
)

func (d Deployment) fields() map[string]any {
	return map[string]any{
		dfSpec: d.Spec, dfStatus: d.Status, dfReason: d.StatusReason, dfStatusMs: d.StatusTime.UnixMilli(),
		dfGeneration: d.Generation, dfReplicaGen: d.ReplicaGeneration, dfDesired: d.Desired,
		dfCreatedMs: d.Created.UnixMilli(), dfUpdatedMs: d.Updated.UnixMilli(), dfOwner: d.Owner,
	}
}

func decodeDeployment(name string, h map[string]string) (Deployment, error) {
	d := Deployment{Name: name, Spec: h[dfSpec], Status: h[dfStatus], StatusReason: h[dfReason], Owner: h[dfOwner]}
	var statusMs, createdMs, updatedMs, desired int64
	for _, f := range []struct {
		name string
		dst  *int64
	}{{dfStatusMs, &statusMs}, {dfGeneration, &d.Generation}, {dfReplicaGen, &d.ReplicaGeneration},
		{dfDesired, &desired}, {dfCreatedMs, &createdMs}, {dfUpdatedMs, &updatedMs}} {
		if err := parseField(h, f.name, func(s string) (err error) { *f.dst, err = strconv.ParseInt(s, 10, 64); return }); err != nil {
			return Deployment{}, fmt.Errorf("%s: %w: %w", DeploymentKey(name), errDecode, err)
		}
	}
	if d.Status == "" {
		return Deployment{}, fmt.Errorf("%s: %w: no status", DeploymentKey(name), errDecode)
	}
	d.Desired = int(desired)
	d.StatusTime, d.Created, d.Updated = time.UnixMilli(statusMs), time.UnixMilli(createdMs), time.UnixMilli(updatedMs)
	return d, nil
}

func (e DeploymentEvent) values() map[string]any {
	return map[string]any{efStatus: e.Status, efPrevious: e.Previous, efReason: e.Reason,
		efGeneration: e.Generation, efTimeMs: e.Time.UnixMilli()}
}

// CreateDeployment writes a new record, the first event, and announces
// deployment.status. A name whose record is Deleted may be created again (its
// event stream goes on); any other existing record is ErrExists.
func (s *Store) CreateDeployment(ctx context.Context, d Deployment, reason string) error {
	if err := CheckName(d.Name); err != nil {
		return fmt.Errorf("deployment %w", err)
	}
	key := DeploymentKey(d.Name)
	now := time.Now()
	d.Created, d.Updated, d.StatusTime = now, now, now
	return s.rdb.Watch(ctx, func(tx *redis.Tx) error {
		cur, err := tx.HGet(ctx, key, dfStatus).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		if err == nil && cur != deletedStatus {
			return fmt.Errorf("%w: %s is %s", ErrExists, d.Name, cur)
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, key)
			p.HSet(ctx, key, d.fields())
			s.appendEvent(ctx, p, d.Name, DeploymentEvent{Time: now, Status: d.Status, Reason: reason, Generation: d.Generation})
			return nil
		})
		return err
	}, key)
}

func (s *Store) appendEvent(ctx context.Context, p redis.Pipeliner, name string, e DeploymentEvent) {
	p.XAdd(ctx, &redis.XAddArgs{Stream: DeploymentEventsKey(name), MaxLen: maxEvents, Approx: true, Values: e.values()})
	p.Publish(ctx, Channel, mustJSON(Change{Kind: KindDeploymentStatus, Deployment: name}))
}

// GetDeployment reads one record.
func (s *Store) GetDeployment(ctx context.Context, name string) (Deployment, error) {
	if err := CheckName(name); err != nil {
		return Deployment{}, fmt.Errorf("deployment %w", err)
	}
	h, err := s.rdb.HGetAll(ctx, DeploymentKey(name)).Result()
	if err != nil {
		return Deployment{}, err
	}
	if len(h) == 0 {
		return Deployment{}, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return decodeDeployment(name, h)
}

// Deployments reads every record, Deleted ones included, in no particular
// order. A record that does not decode is skipped with a warning.
func (s *Store) Deployments(ctx context.Context) ([]Deployment, error) {
	var out []Deployment
	var cursor uint64
	for {
		keys, next, err := s.rdb.Scan(ctx, cursor, deploymentPrefix+"*", scanBatch).Result()
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			name, ok := parseDeploymentKey(k)
			if !ok {
				continue
			}
			d, err := s.GetDeployment(ctx, name)
			switch {
			case errors.Is(err, ErrNotFound):
			case isReplyError(err) || errors.Is(err, errDecode):
				s.log.Warn("skipping a deployment record that does not read", "key", k, "err", err)
			case err != nil:
				return nil, err
			default:
				out = append(out, d)
			}
		}
		if cursor = next; cursor == 0 {
			return out, nil
		}
	}
}

// UpdateDeployment applies fn to the current record in an optimistic
// transaction (re-run when another writer got there first) and writes the
// result. When fn returns an event it is appended to the stream and
// deployment.status announced; fn returning an error aborts with it.
func (s *Store) UpdateDeployment(ctx context.Context, name string, fn func(d *Deployment) (*DeploymentEvent, error)) (Deployment, error) {
	if err := CheckName(name); err != nil {
		return Deployment{}, fmt.Errorf("deployment %w", err)
	}
	key := DeploymentKey(name)
	var out Deployment
	for attempt := 0; ; attempt++ {
		err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			h, err := tx.HGetAll(ctx, key).Result()
			if err != nil {
				return err
			}
			if len(h) == 0 {
				return fmt.Errorf("%w: %s", ErrNotFound, name)
			}
			d, err := decodeDeployment(name, h)
			if err != nil {
				return err
			}
			prev := d.Status
			ev, err := fn(&d)
			if err != nil {
				return err
			}
			now := time.Now()
			d.Updated = now
			if ev != nil {
				ev.Time, ev.Status, ev.Previous = now, d.Status, prev
				if ev.Generation == 0 {
					ev.Generation = d.Generation
				}
				if d.Status != prev {
					d.StatusTime = now
				}
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.HSet(ctx, key, d.fields())
				if ev != nil {
					s.appendEvent(ctx, p, name, *ev)
				}
				return nil
			})
			out = d
			return err
		}, key)
		if errors.Is(err, redis.TxFailedErr) && attempt < 50 {
			continue
		}
		return out, err
	}
}

// DeploymentEvents returns up to count events after the stream id after
// ("" = from the start), oldest first.
func (s *Store) DeploymentEvents(ctx context.Context, name, after string, count int64) ([]DeploymentEvent, error) {
	if err := CheckName(name); err != nil {
		return nil, fmt.Errorf("deployment %w", err)
	}
	start := "-"
	if after != "" {
		start = "(" + after
	}
	msgs, err := s.rdb.XRangeN(ctx, DeploymentEventsKey(name), start, "+", count).Result()
	if err != nil {
		return nil, err
	}
	out := make([]DeploymentEvent, 0, len(msgs))
	for _, m := range msgs {
		e := DeploymentEvent{ID: m.ID}
		e.Status, _ = m.Values[efStatus].(string)
		e.Previous, _ = m.Values[efPrevious].(string)
		e.Reason, _ = m.Values[efReason].(string)
		g, _ := m.Values[efGeneration].(string)
		e.Generation, _ = strconv.ParseInt(g, 10, 64)
		ms, _ := m.Values[efTimeMs].(string)
		msv, _ := strconv.ParseInt(ms, 10, 64)
		e.Time = time.UnixMilli(msv)
		out = append(out, e)
	}
	return out, nil
}
