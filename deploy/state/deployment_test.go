package state

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/graft-ai/graft/internal/testserver"
)

func statuses(t *testing.T, s *Store, name string) []string {
	t.Helper()
	evs, err := s.DeploymentEvents(context.Background(), name, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s>%s:%s", e.Previous, e.Status, e.Reason))
	}
	return out
}

func setStatus(status, reason string) func(d *Deployment) (*DeploymentEvent, error) {
	return func(d *Deployment) (*DeploymentEvent, error) {
		d.Status, d.StatusReason = status, reason
		return &DeploymentEvent{Reason: reason}, nil
	}
}

func TestDeploymentRecordAndEvents(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	changes, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := Deployment{Name: "d1", Spec: `{"base_model":"m"}`, Status: "Pending", StatusReason: "created", Generation: 1, ReplicaGeneration: 1}
	if err := s.CreateDeployment(ctx, d, "created"); err != nil {
		t.Fatal(err)
	}
	if c := <-changes; c.Kind != KindDeploymentStatus || c.Deployment != "d1" {
		t.Fatalf("announced %+v", c)
	}
	if err := s.CreateDeployment(ctx, d, "again"); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	got, err := s.GetDeployment(ctx, "d1")
	if err != nil || got.Spec != d.Spec || got.Status != "Pending" || got.Generation != 1 || got.Created.IsZero() {
		t.Fatalf("GetDeployment = %+v, %v", got, err)
	}
	if _, err := s.UpdateDeployment(ctx, "d1", setStatus("Standby", "min_replicas is 0")); err != nil {
		t.Fatal(err)
	}
	// A write with no event changes the record but not the stream.
	if _, err := s.UpdateDeployment(ctx, "d1", func(d *Deployment) (*DeploymentEvent, error) { d.Desired = 3; return nil, nil }); err != nil {
		t.Fatal(err)
	}
	refuse := errors.New("refused")
	if _, err := s.UpdateDeployment(ctx, "d1", func(d *Deployment) (*DeploymentEvent, error) { d.Desired = 9; return nil, refuse }); !errors.Is(err, refuse) {
		t.Fatalf("refusing update: %v", err)
	}
	got, _ = s.GetDeployment(ctx, "d1")
	if got.Status != "Standby" || got.StatusReason != "min_replicas is 0" || got.Desired != 3 {
		t.Fatalf("after updates: %+v", got)
	}
	want := []string{">Pending:created", "Pending>Standby:min_replicas is 0"}
	if ev := statuses(t, s, "d1"); fmt.Sprint(ev) != fmt.Sprint(want) {
		t.Fatalf("events %q, want %q", ev, want)
	}
	// Deleted: the name may be created again and the stream goes on.
	s.UpdateDeployment(ctx, "d1", setStatus("Deleted", "deleted"))
	if err := s.CreateDeployment(ctx, d, "created again"); err != nil {
		t.Fatalf("create after delete: %v", err)
	}
	if ev := statuses(t, s, "d1"); len(ev) != 4 {
		t.Fatalf("events after re-create: %q", ev)
	}
	evs, _ := s.DeploymentEvents(ctx, "d1", "", 100)
	after, _ := s.DeploymentEvents(ctx, "d1", evs[1].ID, 100)
	if len(after) != 2 || after[0].ID != evs[2].ID {
		t.Fatalf("events after %s: %+v", evs[1].ID, after)
	}
	if _, err := s.GetDeployment(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing record: %v", err)
	}
	if _, err := s.UpdateDeployment(ctx, "nope", setStatus("Ready", "")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of a missing record: %v", err)
	}
}

func TestDeploymentsListsRecordsOnly(t *testing.T) {
	s, rdb, _ := newStore(t)
	ctx := context.Background()
	for _, n := range []string{"a", "b"} {
		if err := s.CreateDeployment(ctx, Deployment{Name: n, Status: "Pending"}, "created"); err != nil {
			t.Fatal(err)
		}
	}
	rdb.Set(ctx, "deployment:broken", "a string", 0) // WRONGTYPE
	rdb.HSet(ctx, "deployment:junk", "desired", "many")
	ds, err := s.Deployments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, d := range ds {
		names[d.Name] = true
	}
	if len(ds) != 2 || !names["a"] || !names["b"] {
		t.Fatalf("Deployments = %+v", ds)
	}
}

// TestConcurrentUpdatesAllLand: the optimistic transaction retries, so no
// writer's change is lost to another's.
func TestConcurrentUpdatesAllLand(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	s.CreateDeployment(ctx, Deployment{Name: "d", Status: "Ready"}, "created")
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := s.UpdateDeployment(ctx, "d", func(d *Deployment) (*DeploymentEvent, error) { d.Desired++; return nil, nil }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if d, _ := s.GetDeployment(ctx, "d"); d.Desired != 20 {
		t.Fatalf("desired = %d after 20 increments", d.Desired)
	}
}

// TestDeploymentsSurviveRedisKill: with the append-only file, a SIGKILLed
// Redis comes back with every record and event.
func TestDeploymentsSurviveRedisKill(t *testing.T) {
	srv := testserver.RedisAOF(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	s := New(rdb)
	ctx := context.Background()
	for i := range 20 {
		n := fmt.Sprintf("d%d", i)
		if err := s.CreateDeployment(ctx, Deployment{Name: n, Status: "Pending", Generation: 1}, "created"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateDeployment(ctx, n, setStatus("Standby", "scaled to zero")); err != nil {
			t.Fatal(err)
		}
	}
	testserver.WaitAOFWritten(t, srv.Addr)
	srv.Kill()
	testserver.RestartRedisAOF(t, srv)
	eventually(t, "Redis back", func() bool { return rdb.Ping(ctx).Err() == nil })
	ds, err := s.Deployments(ctx)
	if err != nil || len(ds) != 20 {
		t.Fatalf("after the restart: %d deployments, %v", len(ds), err)
	}
	for _, d := range ds {
		if d.Status != "Standby" || d.StatusReason != "scaled to zero" || d.StatusTime.Before(d.Created) {
			t.Errorf("%s after the restart: %+v", d.Name, d)
		}
		if ev := statuses(t, s, d.Name); len(ev) != 2 {
			t.Errorf("%s events after the restart: %q", d.Name, ev)
		}
	}
}
