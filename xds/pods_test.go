package xds

import (
	"testing"

	"github.com/graft-ai/graft/deploy/state"
)

// readyPods answers for the pods the platform says are Ready.
type readyPods map[string]string

func (p readyPods) Addr(deployment, id string) (string, bool) {
	a, ok := p[deployment+"/"+id]
	return a, ok
}

func (readyPods) Changed() <-chan struct{} { return nil }

// TestOnPods: a heartbeat is an endpoint only with a Ready pod, at the pod's
// address; a Ready pod without a ready heartbeat is not one either.
func TestOnPods(t *testing.T) {
	reps := []state.Replica{
		{Deployment: "chat", ID: "a", Addr: "0.0.0.0:8000", State: state.StateReady},
		{Deployment: "chat", ID: "b", Addr: "0.0.0.0:8000", State: state.StateReady}, // pod not Ready
		{Deployment: "chat", ID: "c", Addr: "0.0.0.0:8000", State: state.StateDraining},
	}
	pods := readyPods{"chat/a": "10.0.0.1:8000", "chat/c": "10.0.0.3:8000", "chat/d": "10.0.0.4:8000"}
	ds := Deployments([]string{"chat"}, OnPods(reps, pods))
	if len(ds) != 1 || len(ds[0].Replicas) != 1 {
		t.Fatalf("deployments %+v, want chat with replica a alone", ds)
	}
	if r := ds[0].Replicas[0]; r.ID != "a" || r.Host != "10.0.0.1" || r.Port != 8000 {
		t.Errorf("replica %+v, want a at its pod's 10.0.0.1:8000", r)
	}
	if reps[0].Addr != "0.0.0.0:8000" {
		t.Error("OnPods changed its input")
	}
}
