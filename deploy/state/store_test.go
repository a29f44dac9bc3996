package state

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graft-ai/graft/internal/testserver"
)

// testDeadline turns a hang into a failure; it is not a timing assertion.
const testDeadline = 30 * time.Second

func newStore(t *testing.T) (*Store, *redis.Client, *testserver.Process) {
	t.Helper()
	srv := testserver.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	return New(rdb), rdb, srv
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

func TestPutReplicaWritesEveryField(t *testing.T) {
	s, rdb, _ := newStore(t)
	ctx := context.Background()
	r := Replica{Deployment: "mydeploy", ID: "r1", Addr: "10.0.0.7:8080", State: StateReady,
		QueueDepth: 3, Running: 5, MaxQueued: 256, KVUse: 0.425, AdapterSlotsUsed: 2, AdapterSlotsTotal: 8,
		Updated: time.UnixMilli(1700000000123)}
	created, err := s.PutReplica(ctx, r, time.Hour)
	if err != nil || !created {
		t.Fatalf("first PutReplica: created %v, %v", created, err)
	}
	got := rdb.HGetAll(ctx, "replica:mydeploy:r1").Val()
	want := map[string]string{"addr": "10.0.0.7:8080", "state": "ready", "queue_depth": "3", "running": "5",
		"max_queued": "256", "kv_use": "0.425", "adapter_slots_used": "2", "adapter_slots_total": "8",
		"updated_ms": "1700000000123"}
	if !mapsEqual(got, want) {
		t.Errorf("hash = %v\nwant   %v", got, want)
	}
	if ttl := rdb.PTTL(ctx, "replica:mydeploy:r1").Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("TTL %s, want in (0, 1h]", ttl)
	}
	// A rewrite drops what the previous write had and this one lacks.
	rdb.HSet(ctx, "replica:mydeploy:r1", "stale_field", "x")
	r.GPUMemUsedBytes, r.GPUMemTotalBytes = 1<<30, 80<<30
	if created, err := s.PutReplica(ctx, r, time.Hour); err != nil || created {
		t.Fatalf("second PutReplica: created %v, %v", created, err)
	}
	got = rdb.HGetAll(ctx, "replica:mydeploy:r1").Val()
	if _, ok := got["stale_field"]; ok || got["gpu_mem_total_bytes"] != "85899345920" {
		t.Errorf("after the rewrite: %v", got)
	}
	back, ok, err := s.GetReplica(ctx, "mydeploy", "r1")
	if err != nil || !ok {
		t.Fatalf("GetReplica: %v %v", ok, err)
	}
	if !sameReplica(back, r) || !back.Updated.Equal(r.Updated) {
		t.Errorf("read back %+v\nwrote     %+v", back, r)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestPutReplicaReportsAbsentKeys(t *testing.T) {
	s, rdb, _ := newStore(t)
	ctx := context.Background()
	r := Replica{Deployment: "d", ID: "r1", State: StateReady}
	for i, want := range []bool{true, false} {
		if created, err := s.PutReplica(ctx, r, time.Hour); err != nil || created != want {
			t.Fatalf("put %d: created %v, %v; want %v", i, created, err, want)
		}
	}
	rdb.Del(ctx, ReplicaKey("d", "r1")) // as an expiry or a restart would
	if created, err := s.PutReplica(ctx, r, time.Hour); err != nil || !created {
		t.Fatalf("put after the key vanished: created %v, %v", created, err)
	}
}

func TestResidencySet(t *testing.T) {
	s, rdb, _ := newStore(t)
	ctx := context.Background()
	members := func() []string {
		m := rdb.SMembers(ctx, "residency:d:r1").Val()
		slices.Sort(m)
		return m
	}
	rdb.SAdd(ctx, "residency:d:r1", "stale") // left by an older process
	if err := s.SetResidency(ctx, "d", "r1", []string{"support-bot", "hf://org/b@main"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if m := members(); !slices.Equal(m, []string{"hf://org/b@main", "support-bot"}) {
		t.Fatalf("after SetResidency: %v", m)
	}
	if ttl := rdb.PTTL(ctx, "residency:d:r1").Val(); ttl <= 0 {
		t.Fatalf("residency TTL %s, want positive", ttl)
	}
	if err := s.AddAdapter(ctx, "d", "r1", "x", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveAdapter(ctx, "d", "r1", "support-bot"); err != nil {
		t.Fatal(err)
	}
	if m := members(); !slices.Equal(m, []string{"hf://org/b@main", "x"}) {
		t.Fatalf("after add and remove: %v", m)
	}
	if err := s.SetResidency(ctx, "d", "r1", nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(ctx, "residency:d:r1").Val(); n != 0 {
		t.Fatal("an empty residency left its key behind")
	}
}

func TestKeysExpireWithoutAWriter(t *testing.T) {
	s, rdb, _ := newStore(t)
	ctx := context.Background()
	if _, err := s.PutReplica(ctx, Replica{Deployment: "d", ID: "r1"}, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := s.SetResidency(ctx, "d", "r1", []string{"x"}, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both keys to expire", func() bool {
		return rdb.Exists(ctx, "replica:d:r1", "residency:d:r1").Val() == 0
	})
}

func TestDeleteReplica(t *testing.T) {
	s, rdb, _ := newStore(t)
	ctx := context.Background()
	s.PutReplica(ctx, Replica{Deployment: "d", ID: "r1"}, time.Hour)
	s.SetResidency(ctx, "d", "r1", []string{"x"}, time.Hour)
	if err := s.DeleteReplica(ctx, "d", "r1"); err != nil {
		t.Fatal(err)
	}
	if n := rdb.Exists(ctx, "replica:d:r1", "residency:d:r1").Val(); n != 0 {
		t.Fatalf("%d keys left", n)
	}
	if _, ok, err := s.GetReplica(ctx, "d", "r1"); ok || err != nil {
		t.Fatalf("GetReplica after delete: %v %v", ok, err)
	}
}

func TestReplicasByDeploymentSkipsForeignAndBrokenKeys(t *testing.T) {
	s, rdb, _ := newStore(t)
	ctx := context.Background()
	for _, r := range []Replica{{Deployment: "a", ID: "1"}, {Deployment: "a", ID: "2"}, {Deployment: "ab", ID: "1"}} {
		if _, err := s.PutReplica(ctx, r, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	s.SetResidency(ctx, "a", "2", []string{"y", "x"}, time.Hour)
	rdb.Set(ctx, "replica:a:wrongtype", "a string", 0)    // WRONGTYPE for HGETALL
	rdb.HSet(ctx, "replica:a:garbage", "running", "many") // not a number
	rdb.HSet(ctx, "replica:a:b:c", "addr", "x")           // not a key this package makes
	rdb.HSet(ctx, "replica:nocolon", "addr", "x")         // nor this
	rdb.SAdd(ctx, "residency:a:orphan", "z")              // a set with no replica hash
	ids := func(rs []Replica) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Deployment+"/"+r.ID+"="+strings.Join(r.Adapters, ","))
		}
		slices.Sort(out)
		return out
	}
	rs, err := s.Replicas(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(rs); !slices.Equal(got, []string{"a/1=", "a/2=x,y"}) {
		t.Errorf("Replicas(a) = %v", got)
	}
	rs, err = s.AllReplicas(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(rs); !slices.Equal(got, []string{"a/1=", "a/2=x,y", "ab/1="}) {
		t.Errorf("AllReplicas = %v", got)
	}
}

func TestBadNamesAreRefused(t *testing.T) {
	s, rdb, _ := newStore(t)
	ctx := context.Background()
	for _, r := range []Replica{{Deployment: "", ID: "1"}, {Deployment: "a:b", ID: "1"},
		{Deployment: "a", ID: "*"}, {Deployment: "a", ID: "r[1]"}, {Deployment: "a", ID: "has space"},
		{Deployment: strings.Repeat("a", 254), ID: "1"}} {
		if _, err := s.PutReplica(ctx, r, time.Hour); err == nil {
			t.Errorf("PutReplica(%q, %q) accepted", r.Deployment, r.ID)
		}
	}
	if _, err := s.Replicas(ctx, "*"); err == nil {
		t.Error("Replicas(\"*\") accepted: it would read every deployment")
	}
	if _, err := s.PutReplica(ctx, Replica{Deployment: "a", ID: "1"}, 0); err == nil {
		t.Error("a zero TTL was accepted: the key would never expire")
	}
	if n := rdb.DBSize(ctx).Val(); n != 0 {
		t.Errorf("refused writes left %d keys", n)
	}
}

func TestPublishedChangesParse(t *testing.T) {
	s, rdb, _ := newStore(t)
	ctx := context.Background()
	sub := rdb.Subscribe(ctx, Channel)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription confirmation
		t.Fatal(err)
	}
	want := Change{Kind: KindAdapterLoaded, Deployment: "d", Replica: "r1", Adapter: "hf://org/b@main"}
	if err := s.Publish(ctx, want); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, testDeadline)
	defer cancel()
	msg, err := sub.ReceiveMessage(rctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ParseChange(msg.Payload); err != nil || got != want {
		t.Fatalf("got %+v (%v) from %q, want %+v", got, err, msg.Payload, want)
	}
	for _, bad := range []string{"", "{", `{"deployment":"d"}`, "[]"} {
		if _, err := ParseChange(bad); err == nil {
			t.Errorf("ParseChange(%q) accepted", bad)
		}
	}
}

func TestOpen(t *testing.T) {
	srv := testserver.Redis(t)
	s, err := Open("redis://" + srv.Addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.PutReplica(context.Background(), Replica{Deployment: "d", ID: "r"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	_, err = Open("http://user:secret@" + srv.Addr)
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("Open with a bad scheme: %v (want an error that does not show the password)", err)
	}
}

func TestPrivateAdapters(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	changes, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetAdapterOwner(ctx, "stories", "tuned", "acme"); err != nil {
		t.Fatal(err)
	}
	if c := <-changes; c.Kind != KindDeploymentAdapterOwner || c.Deployment != "stories" || c.Adapter != "tuned" {
		t.Fatalf("change %+v", c)
	}
	got, err := s.PrivateAdapters(ctx, "stories")
	if err != nil || len(got) != 1 || got["tuned"] != "acme" {
		t.Fatalf("got %v, %v", got, err)
	}
	if err := s.SetAdapterOwner(ctx, "stories", "tuned", ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.PrivateAdapters(ctx, "stories"); len(got) != 0 {
		t.Fatalf("still private: %v", got)
	}
	if err := s.SetAdapterOwner(ctx, "bad name", "x", "acme"); err == nil {
		t.Fatal("accepted a bad deployment name")
	}
}
