package residency

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graft-ai/graft/internal/testserver"
)

// testDeadline turns a hang into a failure; it is not a timing assertion.
const testDeadline = 30 * time.Second

// loadBox is a Load the test changes while a Publisher reads it.
type loadBox struct {
	mu sync.Mutex
	l  Load
}

func (b *loadBox) get() Load       { b.mu.Lock(); defer b.mu.Unlock(); return b.l }
func (b *loadBox) set(l Load)      { b.mu.Lock(); defer b.mu.Unlock(); b.l = l }
func newBox(state string) *loadBox { return &loadBox{l: Load{State: state}} }

func client(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runPublisher starts p.Run and returns a stop function giving Run's result.
func runPublisher(p *Publisher) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return func() error { cancel(); return <-done }
}

func TestHeartbeatFields(t *testing.T) {
	srv := testserver.Redis(t)
	rdb := client(t, srv.Addr)
	ctx := context.Background()
	box := &loadBox{l: Load{State: "ready", QueueDepth: 3, Running: 5, KVUsePct: 42.5,
		AdapterSlotsUsed: 2, AdapterSlotsTotal: 8}}
	p := New(rdb, "mydeploy", "r1", "10.0.0.7:8080", time.Hour, box.get)
	before := time.Now().UnixMilli()
	if err := p.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	got := rdb.HGetAll(ctx, "replica:mydeploy:r1").Val()
	want := map[string]string{"addr": "10.0.0.7:8080", "state": "ready", "queue_depth": "3", "running": "5",
		"kv_use_pct": "42.5", "adapter_slots_used": "2", "adapter_slots_total": "8"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if ms, _ := strconv.ParseInt(got["updated_ms"], 10, 64); ms < before {
		t.Errorf("updated_ms = %q, want >= %d", got["updated_ms"], before)
	}
	if _, ok := got["gpu_mem_total_bytes"]; ok {
		t.Errorf("GPU memory published though unknown: %v", got)
	}
	if ttl := rdb.PTTL(ctx, "replica:mydeploy:r1").Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("TTL %s, want in (0, 1h]", ttl)
	}
	box.set(Load{State: "ready", GPUMemUsedBytes: 1 << 30, GPUMemTotalBytes: 80 << 30})
	if err := p.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	got = rdb.HGetAll(ctx, "replica:mydeploy:r1").Val()
	if got["gpu_mem_used_bytes"] != "1073741824" || got["gpu_mem_total_bytes"] != "85899345920" || got["queue_depth"] != "0" {
		t.Errorf("after the second beat: %v", got)
	}
}

func TestRunRefreshesTTL(t *testing.T) {
	srv := testserver.Redis(t)
	rdb := client(t, srv.Addr)
	ctx := context.Background()
	p := New(rdb, "d", "r1", "a:1", 2*time.Second, newBox("ready").get)
	p.Interval = 50 * time.Millisecond
	stop := runPublisher(p)
	defer stop()
	// Several beats, each leaving a fresh TTL behind it.
	var last string
	for beats := 0; beats < 5; {
		eventually(t, "a new heartbeat", func() bool {
			v := rdb.HGet(ctx, "replica:d:r1", "updated_ms").Val()
			return v != "" && v != last
		})
		last = rdb.HGet(ctx, "replica:d:r1", "updated_ms").Val()
		if ttl := rdb.PTTL(ctx, "replica:d:r1").Val(); ttl <= 0 || ttl > 2*time.Second {
			t.Fatalf("TTL %s after a beat, want in (0, 2s]", ttl)
		}
		beats++
	}
}

func TestResidencyFollowsLoadAndUnload(t *testing.T) {
	srv := testserver.Redis(t)
	rdb := client(t, srv.Addr)
	ctx := context.Background()
	p := New(rdb, "d", "r1", "a:1", time.Hour, newBox("ready").get)
	members := func() []string {
		m := rdb.SMembers(ctx, "residency:d:r1").Val()
		slices.Sort(m)
		return m
	}
	for _, id := range []string{"hf://org/b@main", "support-bot"} {
		if err := p.AdapterLoaded(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if m := members(); !slices.Equal(m, []string{"hf://org/b@main", "support-bot"}) {
		t.Fatalf("after loads: %v", m)
	}
	if ttl := rdb.PTTL(ctx, "residency:d:r1").Val(); ttl <= 0 {
		t.Fatalf("residency set TTL %s, want positive", ttl)
	}
	if err := p.AdapterUnloaded(ctx, "support-bot"); err != nil {
		t.Fatal(err)
	}
	// A stray member (written by an older process) is dropped by the rewrite.
	rdb.SAdd(ctx, "residency:d:r1", "stale")
	if err := p.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if m := members(); !slices.Equal(m, []string{"hf://org/b@main"}) {
		t.Fatalf("after unload and heartbeat: %v", m)
	}
	if err := p.AdapterUnloaded(ctx, "hf://org/b@main"); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(ctx, "residency:d:r1").Val(); n != 0 {
		t.Fatalf("empty residency set still exists")
	}
}

func TestKeysExpireWhenPublisherDies(t *testing.T) {
	srv := testserver.Redis(t)
	observer := client(t, srv.Addr)
	ctx := context.Background()
	own := redis.NewClient(&redis.Options{Addr: srv.Addr})
	p := New(own, "d", "r1", "a:1", time.Second, newBox("ready").get)
	stop := runPublisher(p)
	if err := p.AdapterLoaded(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "keys published", func() bool {
		return observer.Exists(ctx, "replica:d:r1", "residency:d:r1").Val() == 2
	})
	// Dying: the connection goes away, so neither heartbeats nor the cleanup
	// reach Redis. Only the TTL can remove the keys.
	own.Close()
	if err := stop(); err == nil {
		t.Fatal("cleanup over a closed client reported success")
	}
	// So whatever removes the keys now is their TTL.
	eventually(t, "keys to expire", func() bool {
		return observer.Exists(ctx, "replica:d:r1", "residency:d:r1").Val() == 0
	})
}

func TestCleanShutdownDeletesKeys(t *testing.T) {
	srv := testserver.Redis(t)
	rdb := client(t, srv.Addr)
	ctx := context.Background()
	p := New(rdb, "d", "r1", "a:1", time.Hour, newBox("ready").get)
	stop := runPublisher(p)
	if err := p.AdapterLoaded(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "keys published", func() bool { return rdb.Exists(ctx, "replica:d:r1", "residency:d:r1").Val() == 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(ctx, "replica:d:r1", "residency:d:r1").Val(); n != 0 {
		t.Fatalf("%d keys left after a clean shutdown", n)
	}
}

func TestRedisRestartHeals(t *testing.T) {
	srv := testserver.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	ctx := context.Background()
	p := New(rdb, "d", "r1", "a:1", time.Hour, newBox("ready").get)
	p.Interval = 50 * time.Millisecond
	stop := runPublisher(p)
	defer stop()
	if err := p.AdapterLoaded(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	// The restarted server starts empty (no persistence); Run's beats, failing
	// while it is down, must restore both keys once it is back.
	srv = testserver.RestartRedis(t, srv)
	fresh := client(t, srv.Addr)
	eventually(t, "the next heartbeat to rewrite both keys", func() bool {
		return fresh.HGet(ctx, "replica:d:r1", "state").Val() == "ready" &&
			slices.Equal(fresh.SMembers(ctx, "residency:d:r1").Val(), []string{"x"})
	})
}

func TestChangesArePublished(t *testing.T) {
	srv := testserver.Redis(t)
	rdb := client(t, srv.Addr)
	ctx := context.Background()
	sub := rdb.Subscribe(ctx, Channel)
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
			t.Fatalf("waiting for %s: %v", kind, err)
		}
		c, err := ParseChange(msg.Payload)
		want := Change{Kind: kind, Deployment: "d", Replica: "r1", Adapter: adapter}
		if err != nil || c != want {
			t.Fatalf("got %q (%v), want %+v", msg.Payload, err, want)
		}
	}
	box := newBox("loading")
	p := New(rdb, "d", "r1", "a:1", time.Hour, box.get)
	if err := p.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	next(KindReplicaUp, "")
	if err := p.Heartbeat(ctx); err != nil { // nothing changed: no notice
		t.Fatal(err)
	}
	box.set(Load{State: "ready"})
	if err := p.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	next(KindReplicaState, "")
	p.AdapterLoaded(ctx, "x")
	next(KindAdapterLoaded, "x")
	p.AdapterUnloaded(ctx, "x")
	next(KindAdapterUnloaded, "x")
	stop := runPublisher(p)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	next(KindReplicaDown, "")
}

// TestHeartbeatAfterRestartRestoresAndAnnounces drives the beats by hand, so
// the empty state between the restart and the next beat can be observed.
func TestHeartbeatAfterRestartRestoresAndAnnounces(t *testing.T) {
	srv := testserver.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	ctx := context.Background()
	p := New(rdb, "d", "r1", "a:1", time.Hour, newBox("ready").get)
	if err := p.AdapterLoaded(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if err := p.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	srv = testserver.RestartRedis(t, srv)
	fresh := client(t, srv.Addr)
	if n := fresh.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("restarted server holds %d keys, want an empty one", n)
	}
	sub := fresh.Subscribe(ctx, Channel)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	// go-redis retries the dead pooled connection; a beat may still fail once.
	eventually(t, "a heartbeat to succeed", func() bool { return p.Heartbeat(ctx) == nil })
	if got := fresh.SMembers(ctx, "residency:d:r1").Val(); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("residency after the beat: %v", got)
	}
	if got := fresh.HGet(ctx, "replica:d:r1", "addr").Val(); got != "a:1" {
		t.Fatalf("replica addr after the beat: %q", got)
	}
	rctx, cancel := context.WithTimeout(ctx, testDeadline)
	defer cancel()
	msg, err := sub.ReceiveMessage(rctx)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := ParseChange(msg.Payload); c.Kind != KindReplicaUp {
		t.Fatalf("notice after the restart: %q, want %s", msg.Payload, KindReplicaUp)
	}
}
