package testserver

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisAOF starts a real redis-server as Redis does, but persistent the way
// graft up runs it: append-only file on, fsync every second. Kill it and
// RestartRedisAOF to see what a crash keeps.
func RedisAOF(t testing.TB) *Process {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not found on PATH; `make test` installs it (apt-get install redis-server)")
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		dir := t.TempDir()
		p := startAOF(t, bin, dir, FreePort(t))
		if lastErr = waitFor(p, 10*time.Second, func() error { return ping(p.Addr) }); lastErr == nil {
			return p
		}
		p.Stop()
	}
	t.Fatalf("redis-server: %v", lastErr)
	return nil
}

// AOFArgs are the persistence flags of a Redis that must survive a crash
// losing at most the last second: graft up passes the same.
var AOFArgs = []string{"--appendonly", "yes", "--appendfsync", "everysec", "--save", ""}

func startAOF(t testing.TB, bin, dir string, port int) *Process {
	args := append([]string{"--bind", "127.0.0.1", "--port", itoa(port), "--dir", dir, "--protected-mode", "yes"}, AOFArgs...)
	p := start(t, dir, bin, args...)
	p.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	p.dir = dir
	return p
}

// RestartRedisAOF stops p (from RedisAOF) if it still runs and starts
// redis-server again on the same address and data folder, so it loads its
// append-only file.
func RestartRedisAOF(t testing.TB, p *Process) *Process {
	t.Helper()
	if p.dir == "" {
		t.Fatal("RestartRedisAOF needs a server from RedisAOF")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not found on PATH")
	}
	p.Stop()
	_, port, err := net.SplitHostPort(p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	q := startAOF(t, bin, p.dir, atoi(port))
	if err := waitFor(q, 10*time.Second, func() error { return ping(q.Addr) }); err != nil {
		t.Fatalf("restart redis-server on %s: %v", q.Addr, err)
	}
	return q
}

// WaitAOFWritten waits until the server has handed every write it
// acknowledged to the kernel (INFO aof_buffer_length 0), so a SIGKILL cannot
// lose it. With appendfsync everysec Redis postpones that hand-over for up to
// 2 s while a background fsync runs: the window everysec trades for speed.
func WaitAOFWritten(t testing.TB, addr string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := c.Info(context.Background(), "persistence").Result()
		if err == nil && strings.Contains(info, "aof_buffer_length:0\r\n") && strings.Contains(info, "aof_pending_bio_fsync:0\r\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis %s: AOF not written after 10s: %v\n%s", addr, err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
