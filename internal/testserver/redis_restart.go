package testserver

import (
	"net"
	"os/exec"
	"testing"
	"time"
)

// RestartRedis stops p (a server from Redis) and starts a fresh, empty
// redis-server on the same address, as a Redis restart without persistence
// looks to its clients. The new server is stopped at test end.
func RestartRedis(t testing.TB, p *Process) *Process {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not found on PATH; `make test` installs it (apt-get install redis-server)")
	}
	p.Stop()
	_, port, err := net.SplitHostPort(p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	q := start(t, dir, bin,
		"--bind", "127.0.0.1", "--port", port, "--dir", dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "yes")
	q.Addr = p.Addr
	if err := waitFor(q, 10*time.Second, func() error { return ping(q.Addr) }); err != nil {
		t.Fatalf("restart redis-server on %s: %v", q.Addr, err)
	}
	return q
}
