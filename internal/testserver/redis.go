package testserver

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis starts a real redis-server on 127.0.0.1 with no persistence and returns it
// once it answers PING. The test is skipped only when redis-server is not installed
// (make test installs it).
func Redis(t testing.TB) *Process {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not found on PATH; `make test` installs it (apt-get install redis-server)")
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		dir := t.TempDir()
		port := FreePort(t)
		p := start(t, dir, bin,
			"--bind", "127.0.0.1", "--port", itoa(port), "--dir", dir,
			"--save", "", "--appendonly", "no", "--protected-mode", "yes")
		p.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		lastErr = waitFor(p, 10*time.Second, func() error { return ping(p.Addr) })
		if lastErr == nil {
			return p
		}
		p.Stop()
	}
	t.Fatalf("redis-server: %v", lastErr)
	return nil
}

func ping(addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}
