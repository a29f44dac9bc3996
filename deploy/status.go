package deploy

import (
	"fmt"
	"slices"
)

// Status is where a deployment is in its life.
type Status string

// The eight statuses.
const (
	Pending      Status = "Pending"      // record created, nothing started yet
	Initializing Status = "Initializing" // the first replica is starting
	Ready        Status = "Ready"        // at least one replica is up and live
	Standby      Status = "Standby"      // 0 replicas; a request wakes it
	Stopped      Status = "Stopped"      // 0 replicas; nothing wakes it until started
	Errored      Status = "Errored"      // 0 replicas; the last initialization failed (see the reason)
	Updating     Status = "Updating"     // replicas up while a config change replaces them
	Deleted      Status = "Deleted"      // gone; the record stays to say so
)

// Statuses lists every status, in the order of a deployment's usual life.
var Statuses = []Status{Pending, Initializing, Ready, Standby, Stopped, Errored, Updating, Deleted}

// transitions is the table every status change is checked against: from a
// status (key), the statuses it may move to, each with why that move exists.
var transitions = map[Status]map[Status]string{
	Pending: {
		Standby:      "created with min_replicas 0",
		Initializing: "created with min_replicas above 0",
		Stopped:      "stopped before it started",
		Deleted:      "deleted",
	},
	Initializing: {
		Ready:   "a replica is live",
		Errored: "the replica never got ready",
		Stopped: "stopped",
		Deleted: "deleted",
	},
	Ready: {
		Standby:      "scaled to zero after the cooldown",
		Updating:     "a config change replaces the replicas",
		Initializing: "every replica exited; a new one is starting",
		Stopped:      "stopped",
		Deleted:      "deleted",
	},
	Standby: {
		Initializing: "woken by a request, or min_replicas raised",
		Stopped:      "stopped",
		Deleted:      "deleted",
	},
	Stopped: {
		Standby: "started again",
		Deleted: "deleted",
	},
	Errored: {
		Initializing: "the spec changed: try again",
		Standby:      "started again: the next request tries again",
		Stopped:      "stopped",
		Deleted:      "deleted",
	},
	Updating: {
		Ready:   "every replica runs the new config",
		Errored: "a replica with the new config never got ready",
		Stopped: "stopped",
		Deleted: "deleted",
	},
	Deleted: {},
}

// TransitionError is a status change the table does not allow.
type TransitionError struct {
	From, To Status
	Reason   string
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("deployment is %s and cannot become %s: %s", e.From, e.To, e.Reason)
}

// CheckTransition returns nil when a deployment may move from one status to
// the other, else a *TransitionError saying why not.
func CheckTransition(from, to Status) error {
	next, ok := transitions[from]
	if !ok {
		return &TransitionError{From: from, To: to, Reason: fmt.Sprintf("%q is not a status", from)}
	}
	if !slices.Contains(Statuses, to) {
		return &TransitionError{From: from, To: to, Reason: fmt.Sprintf("%q is not a status", to)}
	}
	if _, ok := next[to]; ok {
		return nil
	}
	return &TransitionError{From: from, To: to, Reason: refusal(from, to)}
}

// refusal explains the refused moves a user is likely to try.
func refusal(from, to Status) string {
	switch {
	case from == to:
		return "it already is"
	case from == Deleted:
		return "it was deleted; create it again"
	case from == Stopped && to == Initializing:
		return "a stopped deployment does not scale up until it is started"
	case to == Ready || to == Updating:
		return "only the controller moves a deployment there, once a replica is live"
	case to == Pending:
		return "Pending is only the status of a new record"
	}
	return "not a transition of the status machine"
}
