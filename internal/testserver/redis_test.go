package testserver

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestRedisStartsAndStops(t *testing.T) {
	p := Redis(t)
	c := redis.NewClient(&redis.Options{Addr: p.Addr})
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "graft:test", "ok", time.Minute).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if v, err := c.Get(ctx, "graft:test").Result(); err != nil || v != "ok" {
		t.Fatalf("GET = %q, %v", v, err)
	}
	if p.Exited() {
		t.Fatal("server exited while in use")
	}
	p.Stop()
	if !p.Exited() {
		t.Fatalf("redis-server (pid %d) still running after Stop", p.PID)
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING succeeded after Stop")
	}
}

func TestTwoRedisServersAreIndependent(t *testing.T) {
	a, b := Redis(t), Redis(t)
	if a.Addr == b.Addr || a.PID == b.PID {
		t.Fatalf("servers share %s / pid %d", a.Addr, a.PID)
	}
	ctx := context.Background()
	ca := redis.NewClient(&redis.Options{Addr: a.Addr})
	cb := redis.NewClient(&redis.Options{Addr: b.Addr})
	defer ca.Close()
	defer cb.Close()
	ca.Set(ctx, "k", "a", 0)
	if err := cb.Get(ctx, "k").Err(); err != redis.Nil {
		t.Fatalf("key leaked between servers: %v", err)
	}
}

func TestKilledRedisRestartsEmptyOnItsAddress(t *testing.T) {
	p := Redis(t)
	c := redis.NewClient(&redis.Options{Addr: p.Addr})
	defer c.Close()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	p.Kill()
	if !p.Exited() {
		t.Fatalf("redis-server (pid %d) still running after Kill", p.PID)
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING succeeded after Kill")
	}
	q := RestartRedis(t, p)
	if q.Addr != p.Addr {
		t.Fatalf("restarted on %s, want %s", q.Addr, p.Addr)
	}
	if n, err := c.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("restarted server: DBSIZE = %d, %v; want an empty server", n, err)
	}
}

func TestKilledAOFRedisKeepsItsData(t *testing.T) {
	p := RedisAOF(t)
	c := redis.NewClient(&redis.Options{Addr: p.Addr})
	defer c.Close()
	ctx := context.Background()
	for i := range 100 {
		if err := c.Set(ctx, "k"+itoa(i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	WaitAOFWritten(t, p.Addr)
	p.Kill()
	q := RestartRedisAOF(t, p)
	if n, err := c.DBSize(ctx).Result(); err != nil || n != 100 {
		t.Fatalf("after kill -9 and restart: DBSIZE = %d, %v; want 100", n, err)
	}
	if q.Addr != p.Addr {
		t.Fatalf("restarted on %s, want %s", q.Addr, p.Addr)
	}
}
