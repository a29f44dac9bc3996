package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/graft-ai/graft/deploy/state"
)

// WakeError says why a deployment cannot serve: it is Stopped, Errored (with
// the reason its initialization failed) or Deleted.
type WakeError struct {
	Name   string
	Status Status
	Reason string
}

func (e *WakeError) Error() string {
	switch e.Status {
	case Stopped:
		return fmt.Sprintf("deployment %s is Stopped: start it before sending requests", e.Name)
	case Deleted:
		return fmt.Sprintf("deployment %s was deleted", e.Name)
	}
	return fmt.Sprintf("deployment %s is %s: %s", e.Name, e.Status, e.Reason)
}

// Wake makes a deployment serve and returns once a replica is live (Ready,
// or Updating, which has live replicas too). A Standby deployment is moved to
// Initializing; a Stopped one is never woken; an Errored one returns its
// reason (fix the spec or start it to try again). It waits until ctx ends.
// It only talks to Redis, so any process can wake a deployment the control
// process runs.
func (rs Records) Wake(ctx context.Context, name string) error {
	ctx, cancel := context.WithCancel(ctx) // ends the subscription on return
	defer cancel()
	changes, err := rs.Store.Subscribe(ctx)
	if err != nil {
		return fmt.Errorf("wake %s: %w", name, err)
	}
	// Messages only make the wait quick; the periodic read makes it sure.
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	woke := false
	for {
		r, err := rs.Get(ctx, name)
		if err != nil {
			return err
		}
		switch r.Status {
		case Ready, Updating:
			return nil
		case Stopped, Deleted:
			return &WakeError{Name: name, Status: r.Status, Reason: r.StatusReason}
		case Errored:
			return &WakeError{Name: name, Status: r.Status, Reason: r.StatusReason}
		case Standby:
			if !woke {
				_, err := rs.SetStatus(ctx, name, []Status{Standby}, Initializing, "woken by a request")
				var stale *StaleError
				if err != nil && !errors.As(err, &stale) {
					return err
				}
				woke = true
				continue
			}
		}
		if err := waitChange(ctx, changes, poll.C, name); err != nil {
			return err
		}
	}
}

func waitChange(ctx context.Context, changes <-chan state.Change, poll <-chan time.Time, name string) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-poll:
			return nil
		case c, ok := <-changes:
			if !ok {
				return ctx.Err()
			}
			if c.Deployment == name {
				return nil
			}
		}
	}
}
