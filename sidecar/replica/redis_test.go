package replica

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/internal/testserver"
)

// TestTwoReplicasThroughRedisKill: two real engines, each with its reporter,
// publish to one real Redis; a watcher sees both replicas and their adapters
// appear, change and disappear, also across a SIGKILL and restart of Redis.
func TestTwoReplicasThroughRedisKill(t *testing.T) {
	srv := redisServer(t)
	store := newStore(t, srv.Addr)
	w := watch(t, store)
	e1, e2 := startEngine(t), startEngine(t)
	reg := prometheus.NewRegistry()
	r1 := startReporter(t, Config{Engine: e1.client, Store: store, Deployment: "demo", ReplicaID: "r1",
		Addr: "10.0.0.1:8000", Interval: 50 * time.Millisecond, Registerer: reg})
	r2 := startReporter(t, Config{Engine: e2.client, Store: store, Deployment: "demo", ReplicaID: "r2",
		Addr: "10.0.0.2:8000", Interval: 50 * time.Millisecond})
	waitView(t, w, "demo/r1[ready]=", "demo/r2[ready]=")

	loadAdapter(t, e1.client, "qv-r4")
	loadAdapter(t, e1.client, "mlp-r16")
	loadAdapter(t, e2.client, "all-r8")
	r1.Refresh()
	r2.Refresh()
	waitView(t, w, "demo/r1[ready]=mlp-r16,qv-r4", "demo/r2[ready]=all-r8")
	unloadAdapter(t, e1.client, "qv-r4")
	r1.Refresh()
	waitView(t, w, "demo/r1[ready]=mlp-r16", "demo/r2[ready]=all-r8")

	srv.Kill()
	// Redis is gone: Refresh still returns at once and /metrics still serves.
	loadAdapter(t, e2.client, "qv-r4")
	r2.Refresh()
	if got := scrape(t, reg); len(got) != 6 {
		t.Fatalf("metrics during the Redis outage: %q", got)
	}
	testserver.RestartRedis(t, srv)
	// The restarted Redis is empty; the reporters' next writes restore both
	// replicas (with what changed during the outage) and announce them.
	waitView(t, w, "demo/r1[ready]=mlp-r16", "demo/r2[ready]=all-r8,qv-r4")

	r1.Stop()
	waitView(t, w, "demo/r2[ready]=all-r8,qv-r4")
	r2.Stop()
	waitView(t, w)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	if n := rdb.DBSize(context.Background()).Val(); n != 0 {
		t.Fatalf("%d keys left after both replicas stopped", n)
	}
}

// TestAnnouncements checks the messages one replica sends, in order.
func TestAnnouncements(t *testing.T) {
	srv := redisServer(t)
	store := newStore(t, srv.Addr)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	ctx := context.Background()
	sub := rdb.Subscribe(ctx, state.Channel)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription confirmation
		t.Fatal(err)
	}
	next := func(kind, adapter string) {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, testDeadline)
		defer cancel()
		msg, err := sub.ReceiveMessage(rctx)
		if err != nil {
			t.Fatalf("waiting for %s %s: %v", kind, adapter, err)
		}
		want := state.Change{Kind: kind, Deployment: "d", Replica: "r1", Adapter: adapter}
		if c, err := state.ParseChange(msg.Payload); err != nil || c != want {
			t.Fatalf("got %s, want %+v", msg.Payload, want)
		}
	}
	e := startEngine(t)
	loadAdapter(t, e.client, "qv-r4")
	r := startReporter(t, Config{Engine: e.client, Store: store, Deployment: "d", ReplicaID: "r1",
		Addr: "a:1", Interval: 50 * time.Millisecond, TTL: time.Hour})
	next(state.KindReplicaUp, "")
	next(state.KindAdapterLoaded, "qv-r4")
	loadAdapter(t, e.client, "all-r8")
	r.Refresh()
	next(state.KindAdapterLoaded, "all-r8")
	unloadAdapter(t, e.client, "qv-r4")
	r.Refresh()
	next(state.KindAdapterUnloaded, "qv-r4")

	if ttl := rdb.PTTL(ctx, state.ReplicaKey("d", "r1")).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("replica TTL %s, want in (0, 1h]", ttl)
	}
	got, ok, err := store.GetReplica(ctx, "d", "r1")
	if err != nil || !ok || got.Addr != "a:1" || got.AdapterSlotsTotal == 0 || got.KVUse != 0 {
		t.Errorf("replica entry %+v (%v, %v)", got, ok, err)
	}

	e.stop() // the engine dies: the replica turns unavailable, keeping its adapters
	next(state.KindReplicaState, "")
	got, _, _ = store.GetReplica(ctx, "d", "r1")
	if got.State != state.StateUnavailable || !slices.Equal(got.Adapters, []string{"all-r8"}) {
		t.Errorf("after the engine died: %+v", got)
	}
	r.Stop()
	next(state.KindReplicaDown, "")
}

// TestKeysExpireWhenTheReporterCannotCleanUp: a pod that dies leaves its keys
// to their TTL.
func TestKeysExpireWhenTheReporterCannotCleanUp(t *testing.T) {
	srv := redisServer(t)
	observer := newStore(t, srv.Addr)
	own := redis.NewClient(&redis.Options{Addr: srv.Addr})
	e := startEngine(t)
	loadAdapter(t, e.client, "qv-r4")
	r := startReporter(t, Config{Engine: e.client, Store: state.New(own), Deployment: "d", ReplicaID: "r1",
		Addr: "a:1", Interval: 100 * time.Millisecond, TTL: time.Second})
	ctx := context.Background()
	eventually(t, "the replica to appear", func() bool {
		got, ok, _ := observer.GetReplica(ctx, "d", "r1")
		return ok && len(got.Adapters) == 1
	})
	own.Close() // as if the process died: no write, not even the cleanup, reaches Redis
	r.Stop()
	eventually(t, "the keys to expire", func() bool {
		rs, err := observer.AllReplicas(ctx)
		return err == nil && len(rs) == 0
	})
}

// TestStartsWhileRedisIsDown: a Redis that is not there yet blocks neither
// Start nor the metrics; the replica appears once Redis does.
func TestStartsWhileRedisIsDown(t *testing.T) {
	srv := redisServer(t)
	srv.Kill()
	store := newStore(t, srv.Addr)
	e := startEngine(t)
	reg := prometheus.NewRegistry()
	startReporter(t, Config{Engine: e.client, Store: store, Deployment: "d", ReplicaID: "r1",
		Addr: "a:1", Interval: 50 * time.Millisecond, Registerer: reg})
	eventually(t, "metrics with Redis down", func() bool { return len(scrape(t, reg)) == 6 })
	testserver.RestartRedis(t, srv)
	eventually(t, "the replica in the Redis that came up", func() bool {
		_, ok, _ := store.GetReplica(context.Background(), "d", "r1")
		return ok
	})
}

func TestConfigErrors(t *testing.T) {
	e := startEngine(t)
	store := state.New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}))
	for name, cfg := range map[string]Config{
		"no engine":         {Store: store, Deployment: "d", ReplicaID: "r"},
		"no deployment":     {Engine: e.client, Store: store, ReplicaID: "r"},
		"bad replica id":    {Engine: e.client, Store: store, Deployment: "d", ReplicaID: "a:b", Addr: "a:1"},
		"TTL under 2 polls": {Engine: e.client, Store: store, Deployment: "d", ReplicaID: "r", Addr: "a:1", TTL: time.Second, Interval: time.Second},
		"taken registerer":  {Engine: e.client, Registerer: takenRegistry(t)},
	} {
		if r, err := Start(context.Background(), cfg); err == nil {
			r.Stop()
			t.Errorf("%s: Start accepted %+v", name, cfg)
		}
	}
}

// takenRegistry already holds the gauges, as when two reporters share one.
func takenRegistry(t *testing.T) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{})
	return reg
}

// TestDrainIsAnnounced: a draining replica's entry says so at once, so a
// router stops sending it requests while it finishes the running ones.
func TestDrainIsAnnounced(t *testing.T) {
	srv := redisServer(t)
	store := newStore(t, srv.Addr)
	w := watch(t, store)
	e := startEngine(t)
	r := startReporter(t, Config{Engine: e.client, Store: store, Deployment: "demo", ReplicaID: "r1",
		Addr: "10.0.0.1:8000", TTL: time.Hour})
	waitView(t, w, "demo/r1[ready]=")
	r.Drain()
	waitView(t, w, "demo/r1[draining]=")
	r.Stop()
	waitView(t, w)
}
