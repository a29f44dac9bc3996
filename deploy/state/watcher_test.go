package state

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graft-ai/graft/internal/testserver"
)

// describe renders a view as "deployment/id[state]=adapters" lines, sorted.
func describe(rs []Replica) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s/%s[%s]=%s", r.Deployment, r.ID, r.State, strings.Join(r.Adapters, ",")))
	}
	return out
}

// waitView waits on w.Changed until the view is want (nil: empty).
func waitView(t *testing.T, w *Watcher, want ...string) {
	t.Helper()
	deadline := time.After(testDeadline)
	for {
		ch := w.Changed() // before the snapshot, so a change in between is seen
		got := describe(w.Snapshot())
		if slices.Equal(got, want) {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("view is %q, want %q", got, want)
		}
	}
}

func watch(t *testing.T, s *Store, resync time.Duration) *Watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := s.Watch(ctx, WatchOptions{Resync: resync})
	t.Cleanup(func() { cancel(); <-w.Done() })
	return w
}

// put writes a replica and its adapters and announces it, as a pod does.
func put(t *testing.T, s *Store, dep, id, state string, adapters ...string) {
	t.Helper()
	ctx := context.Background()
	created, err := s.PutReplica(ctx, Replica{Deployment: dep, ID: id, State: state}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetResidency(ctx, dep, id, adapters, time.Hour); err != nil {
		t.Fatal(err)
	}
	kind := KindReplicaState
	if created {
		kind = KindReplicaUp
	}
	if err := s.Publish(ctx, Change{Kind: kind, Deployment: dep, Replica: id}); err != nil {
		t.Fatal(err)
	}
}

// TestWatcherFollowsMessages uses a resync period longer than any test, so
// only the change messages can move the view.
func TestWatcherFollowsMessages(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	w := watch(t, s, time.Hour)
	waitView(t, w)
	put(t, s, "d", "r1", StateReady)
	waitView(t, w, "d/r1[ready]=")
	put(t, s, "d", "r2", StateReady, "x")
	waitView(t, w, "d/r1[ready]=", "d/r2[ready]=x")
	s.AddAdapter(ctx, "d", "r1", "y", time.Hour)
	s.Publish(ctx, Change{Kind: KindAdapterLoaded, Deployment: "d", Replica: "r1", Adapter: "y"})
	waitView(t, w, "d/r1[ready]=y", "d/r2[ready]=x")
	put(t, s, "d", "r1", StateDraining, "y")
	waitView(t, w, "d/r1[draining]=y", "d/r2[ready]=x")
	s.RemoveAdapter(ctx, "d", "r2", "x")
	s.Publish(ctx, Change{Kind: KindAdapterUnloaded, Deployment: "d", Replica: "r2", Adapter: "x"})
	waitView(t, w, "d/r1[draining]=y", "d/r2[ready]=")
	// Junk on the channel is ignored, and the watcher keeps going.
	s.rdb.Publish(ctx, Channel, "not json")
	s.Publish(ctx, Change{Kind: KindDeploymentStatus, Deployment: "d"})
	s.DeleteReplica(ctx, "d", "r1")
	s.Publish(ctx, Change{Kind: KindReplicaDown, Deployment: "d", Replica: "r1"})
	waitView(t, w, "d/r2[ready]=")
}

// TestWatcherResyncHeals: writes with no message (a missed one) and a key
// that expires reach the view through the periodic resync alone.
func TestWatcherResyncHeals(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	w := watch(t, s, 50*time.Millisecond)
	if _, err := s.PutReplica(ctx, Replica{Deployment: "d", ID: "silent", State: StateReady}, time.Hour); err != nil {
		t.Fatal(err)
	}
	s.SetResidency(ctx, "d", "silent", []string{"x"}, time.Hour)
	if _, err := s.PutReplica(ctx, Replica{Deployment: "d", ID: "dying", State: StateReady}, time.Hour); err != nil {
		t.Fatal(err)
	}
	waitView(t, w, "d/dying[ready]=", "d/silent[ready]=x")
	// Its writer died: the TTL runs out with no message.
	s.rdb.PExpire(ctx, ReplicaKey("d", "dying"), time.Millisecond)
	waitView(t, w, "d/silent[ready]=x")
}

// TestWatcherHealsAfterRedisIsKilled: a SIGKILLed Redis restarts empty; the
// watcher resubscribes, resyncs to the empty state, and follows the writers
// that restore their keys, all with a resync period longer than the test.
func TestWatcherHealsAfterRedisIsKilled(t *testing.T) {
	srv := testserver.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	s := New(rdb)
	w := watch(t, s, time.Hour)
	put(t, s, "d", "r1", StateReady, "x")
	waitView(t, w, "d/r1[ready]=x")

	srv.Kill()
	// While Redis is down the last view stands.
	if got := describe(w.Snapshot()); !slices.Equal(got, []string{"d/r1[ready]=x"}) {
		t.Fatalf("view while Redis is down: %q", got)
	}
	testserver.RestartRedis(t, srv)
	waitView(t, w) // the restarted server is empty, and the resubscription resync sees it
	eventually(t, "a write to the restarted server", func() bool {
		_, err := s.PutReplica(context.Background(), Replica{Deployment: "d", ID: "r1"}, time.Hour)
		return err == nil
	})
	put(t, s, "d", "r1", StateReady, "x", "y")
	waitView(t, w, "d/r1[ready]=x,y")
}
