// Package providertest is the contract every deploy.Provider keeps, as a
// test suite a provider's own tests run on a real instance of it: the
// controllers rely on it and on nothing else, so a provider that passes it
// runs deployments the same way as the others.
package providertest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graft-ai/graft/deploy"
)

// Harness is a provider and what its environment must do to it that the
// provider does not do itself.
type Harness struct {
	Provider deploy.Provider
	// Spec is a replica spec the provider can run.
	Spec deploy.Spec
	// Live, when set, makes a started replica's workload ready, as a
	// cluster's kubelet would; nil when replicas get live on their own.
	Live func(t *testing.T, deployment, id string)
	// FailSpec is started for the failure case, then Fail makes that replica
	// fail (or does nothing if FailSpec fails by itself) and returns text the
	// failed replica's Reason must hold.
	FailSpec deploy.Spec
	Fail     func(t *testing.T, deployment, id string) string
	// Deadline bounds each wait; default one minute.
	Deadline time.Duration
}

// Run checks the contract; each case uses its own deployment names.
func Run(t *testing.T, h Harness) {
	if h.Deadline == 0 {
		h.Deadline = time.Minute
	}
	t.Run("StartLiveStop", func(t *testing.T) { startLiveStop(t, h) })
	t.Run("ListIsPerDeploymentSortedByID", func(t *testing.T) { listing(t, h) })
	t.Run("BadIDs", func(t *testing.T) { badIDs(t, h) })
	t.Run("FailureKeepsItsReasonUntilStopped", func(t *testing.T) { failure(t, h) })
}

func startLiveStop(t *testing.T, h Harness) {
	ctx := context.Background()
	p := h.Provider
	changed := p.Watch()
	if err := p.Start(ctx, deploy.ReplicaSpec{Deployment: "live", ID: "r1", Generation: 3, Spec: h.Spec}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(h.Deadline):
		t.Fatal("Watch did not report the replica Start added")
	}
	rs := p.List("live")
	if len(rs) != 1 || rs[0].Deployment != "live" || rs[0].ID != "r1" || rs[0].Generation != 3 || rs[0].Started.IsZero() {
		t.Fatalf("List right after Start: %+v, want replica live/r1 of generation 3", rs)
	}
	if ph := rs[0].Phase; ph != deploy.PhaseStarting && ph != deploy.PhaseLive {
		t.Fatalf("a new replica is %s", ph)
	}
	if err := p.Start(ctx, deploy.ReplicaSpec{Deployment: "live", ID: "r1", Generation: 3, Spec: h.Spec}); err == nil {
		t.Error("starting an id that already runs succeeded")
	}
	if h.Live != nil {
		h.Live(t, "live", "r1")
	}
	r := await(t, h, "live", "r1 is live", func(rs []deploy.Replica) bool {
		return len(rs) == 1 && rs[0].Phase == deploy.PhaseLive
	})[0]
	if r.Addr == "" || r.Reason != "" {
		t.Errorf("a live replica with address %q and reason %q", r.Addr, r.Reason)
	}
	if err := p.Stop(ctx, "live", "r1"); err != nil {
		t.Fatal(err)
	}
	for _, r := range p.List("live") {
		if r.Phase != deploy.PhaseStopping {
			t.Errorf("right after Stop the replica is %s, want stopping or gone", r.Phase)
		}
	}
	awaitGone(t, h, "live")
	if err := p.Stop(ctx, "live", "r1"); err != nil {
		t.Errorf("stopping a replica that is gone: %v", err)
	}
}

func listing(t *testing.T, h Harness) {
	ctx := context.Background()
	p := h.Provider
	for _, r := range []deploy.ReplicaSpec{{Deployment: "sorted", ID: "b"}, {Deployment: "other", ID: "a"}, {Deployment: "sorted", ID: "a"}} {
		r.Generation, r.Spec = 1, h.Spec
		if err := p.Start(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(dep string) []string {
		var out []string
		for _, r := range p.List(dep) {
			out = append(out, r.Deployment+"/"+r.ID)
		}
		return out
	}
	if got := ids("sorted"); !slices.Equal(got, []string{"sorted/a", "sorted/b"}) {
		t.Errorf("List(sorted) = %v", got)
	}
	if got := ids("other"); !slices.Equal(got, []string{"other/a"}) {
		t.Errorf("List(other) = %v", got)
	}
	if got := ids("none"); len(got) != 0 {
		t.Errorf("List of a deployment never started = %v", got)
	}
	for _, r := range [][2]string{{"sorted", "a"}, {"sorted", "b"}, {"other", "a"}} {
		if err := p.Stop(ctx, r[0], r[1]); err != nil {
			t.Fatal(err)
		}
	}
	awaitGone(t, h, "sorted")
	awaitGone(t, h, "other")
}

func badIDs(t *testing.T, h Harness) {
	for _, id := range []string{"", "a/b", "a b", "../x", strings.Repeat("x", 300)} {
		if err := h.Provider.Start(context.Background(), deploy.ReplicaSpec{Deployment: "bad", ID: id, Spec: h.Spec}); err == nil {
			t.Errorf("Start accepted replica id %q", id)
		}
	}
	if rs := h.Provider.List("bad"); len(rs) != 0 {
		t.Errorf("rejected ids are listed: %+v", rs)
	}
}

func failure(t *testing.T, h Harness) {
	ctx := context.Background()
	p := h.Provider
	if err := p.Start(ctx, deploy.ReplicaSpec{Deployment: "failing", ID: "r1", Generation: 1, Spec: h.FailSpec}); err != nil {
		t.Fatal(err)
	}
	want := h.Fail(t, "failing", "r1")
	r := await(t, h, "failing", "r1 failed", func(rs []deploy.Replica) bool {
		return len(rs) == 1 && rs[0].Phase == deploy.PhaseFailed
	})[0]
	if !strings.Contains(r.Reason, want) {
		t.Errorf("failure reason %q does not hold %q", r.Reason, want)
	}
	if err := p.Stop(ctx, "failing", "r1"); err != nil {
		t.Fatal(err)
	}
	awaitGone(t, h, "failing")
}

// await waits, on Watch alone, until the deployment's listing satisfies ok:
// a provider whose Watch misses a change fails here.
func await(t *testing.T, h Harness, dep, what string, ok func([]deploy.Replica) bool) []deploy.Replica {
	t.Helper()
	deadline := time.After(h.Deadline)
	for {
		ch := h.Provider.Watch()
		rs := h.Provider.List(dep)
		if ok(rs) {
			return rs
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("waiting until %s: replicas of %s are %+v", what, dep, rs)
		}
	}
}

func awaitGone(t *testing.T, h Harness, dep string) {
	t.Helper()
	await(t, h, dep, "its replicas are gone", func(rs []deploy.Replica) bool { return len(rs) == 0 })
}
