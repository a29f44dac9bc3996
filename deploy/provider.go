package deploy

import (
	"context"
	"time"
)

// Phase is where one replica is in its life, as its provider sees it.
type Phase string

const (
	// PhaseStarting: the replica is starting and not yet live.
	PhaseStarting Phase = "starting"
	// PhaseLive: its API is ready and its heartbeat is in Redis.
	PhaseLive Phase = "live"
	// PhaseFailed: it never got live (it exited, or missed its deadline);
	// Reason holds its own error text.
	PhaseFailed Phase = "failed"
	// PhaseExited: it was live and then exited on its own (a crash).
	PhaseExited Phase = "exited"
	// PhaseStopping: asked to stop; finishing its running requests.
	PhaseStopping Phase = "stopping"
)

// ReplicaSpec is what a provider starts a replica from.
type ReplicaSpec struct {
	Deployment, ID string
	// Generation is the deployment's ReplicaGeneration the replica runs.
	Generation int64
	Spec       Spec
}

// Replica is one replica as its provider reports it.
type Replica struct {
	Deployment, ID string
	Generation     int64
	Addr           string // where its OpenAI API listens, once known
	Phase          Phase
	Reason         string // why it failed or exited
	Started        time.Time
}

// Provider runs replicas somewhere: child processes on this machine (local)
// or pods in a cluster. Failed and exited replicas stay listed until Stop
// removes them, so their reason can be read.
type Provider interface {
	// Start begins starting a replica and returns without waiting for it.
	Start(ctx context.Context, r ReplicaSpec) error
	// Stop asks a replica to finish its running requests and go, and returns
	// without waiting; it leaves List once it is gone.
	Stop(ctx context.Context, deployment, id string) error
	// List returns the replicas of one deployment, sorted by id.
	List(deployment string) []Replica
	// Watch returns a channel closed at the next change of any replica's
	// phase; call it again after each close.
	Watch() <-chan struct{}
}
