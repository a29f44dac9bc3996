package xds

import "github.com/graft-ai/graft/deploy/state"

// Pods is what a platform that runs replicas as pods (Kubernetes) knows and
// a heartbeat does not: whether the pod passes its readiness probe, and the
// address it is reached at (a sidecar only knows the one it listens on inside
// its pod). deploy/kubeprovider.Endpoints is one.
type Pods interface {
	// Addr is the host:port of replica id's pod when that pod is Ready.
	Addr(deployment, id string) (string, bool)
	// Changed is closed at the next change of Addr's answers.
	Changed() <-chan struct{}
}

// OnPods joins heartbeats with pods: a replica stays only when its pod is
// Ready, and is reached at the pod's address. A heartbeat without a Ready pod
// (probe failing, pod deleted and draining, or not bound yet) is never an
// endpoint; a Ready pod without a heartbeat is not either, since the replica's
// own state (ready, draining) still decides.
func OnPods(reps []state.Replica, pods Pods) []state.Replica {
	out := make([]state.Replica, 0, len(reps))
	for _, r := range reps {
		if addr, ok := pods.Addr(r.Deployment, r.ID); ok {
			r.Addr = addr
			out = append(out, r)
		}
	}
	return out
}
