package deploy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/graft-ai/graft/deploy"
)

// TestLifecycle walks one deployment through the statuses a user sees:
// Pending, Standby, woken to Initializing and Ready, idle back to Standby,
// Stopped (and not woken), started, deleted with its replicas gone.
func TestLifecycle(t *testing.T) {
	p := newPlatform(t)
	ctx := context.Background()
	if _, err := p.m.Create(ctx, "life", storiesSpec(t, "")); err != nil {
		t.Fatal(err)
	}
	p.waitStatus("life", deploy.Standby)
	if n := len(p.prov.List("life")); n != 0 {
		t.Fatalf("a Standby deployment runs %d replicas", n)
	}
	wctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	if err := p.m.Wake(wctx, "life"); err != nil {
		t.Fatalf("Wake: %v", err)
	}
	if r, _ := p.m.Get(ctx, "life"); r.Status != deploy.Ready || p.m.Live("life") != 1 {
		t.Fatalf("after Wake: %s with %d live replicas", r.Status, p.m.Live("life"))
	}
	p.waitGauge("graft_deployment_replicas", map[string]string{"deployment": "life", "kind": "ready"}, 1)
	// Wake returns on seeing Ready in Redis; the controller counts the
	// change just after writing it.
	p.waitCounter("graft_deployment_status_changes_total", map[string]string{"deployment": "life", "status": "Ready"}, 1)
	// Nothing sends requests: after the 2 s cooldown it scales to zero.
	r := p.waitStatus("life", deploy.Standby)
	p.waitReplicas("life", 0, "")
	p.waitGauge("graft_deployment_replicas", map[string]string{"deployment": "life", "kind": "ready"}, 0)
	if got := p.counter("graft_deployment_scale_decisions_total", map[string]string{"deployment": "life", "direction": "down"}); got != 1 {
		t.Errorf("scale-down decisions counted: %v, want 1 (%q)", got, r.StatusReason)
	}
	if _, err := p.m.Stop(ctx, "life"); err != nil {
		t.Fatal(err)
	}
	var we *deploy.WakeError
	if err := p.m.Wake(wctx, "life"); !errors.As(err, &we) || we.Status != deploy.Stopped {
		t.Fatalf("Wake of a Stopped deployment: %v", err)
	}
	if _, err := p.m.Start(ctx, "life"); err != nil {
		t.Fatal(err)
	}
	if r, _ := p.m.Get(ctx, "life"); r.Status != deploy.Standby {
		t.Fatalf("after start: %s", r.Status)
	}
	if _, err := p.m.Start(ctx, "life"); !deploy.IsTransitionError(err) {
		t.Fatalf("start of a Standby deployment: %v", err)
	}
	// Wake it again so delete has a replica to remove.
	if err := p.m.Wake(wctx, "life"); err != nil {
		t.Fatal(err)
	}
	pids := p.prov.PIDs("life")
	if _, err := p.m.Delete(ctx, "life"); err != nil {
		t.Fatal(err)
	}
	p.waitStatus("life", deploy.Deleted)
	p.waitReplicas("life", 0, "")
	for id, pid := range pids {
		waitExited(t, id, pid)
	}
	want := "Pending Standby Initializing Ready Standby Stopped Standby Initializing Ready Deleted"
	if got := p.history("life"); got != want {
		t.Fatalf("events:\n got %s\nwant %s", got, want)
	}
}
