package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/graft-ai/graft/deploy/state"
)

// Redis is a redis-server this process started for itself.
type Redis struct {
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis runs redis-server on a free loopback port with its data in dir,
// persistent the way the platform needs: the append-only file on, fsynced
// every second, so a crash or restart loses no deployment (at most the last
// second of writes if the machine itself goes down). It returns once Redis
// answers.
func StartRedis(ctx context.Context, dir string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server is not installed (make deps installs it; or pass --redis URL)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logf, err := os.OpenFile(filepath.Join(dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", fmt.Sprint(port), "--dir", dir,
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--protected-mode", "yes")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &Redis{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(r.done) }()
	st, err := state.Open(r.URL)
	if err != nil {
		r.Stop()
		return nil, err
	}
	defer st.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := st.Ping(pctx)
		cancel()
		switch {
		case err == nil:
			return r, nil
		case time.Now().After(deadline) || ctx.Err() != nil:
			r.Stop()
			return nil, fmt.Errorf("redis-server did not answer (see %s): %w", filepath.Join(dir, "redis.log"), err)
		}
		select {
		case <-r.done:
			return nil, fmt.Errorf("redis-server exited (see %s)", filepath.Join(dir, "redis.log"))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop shuts Redis down (SIGTERM: it finishes writing its file) and waits.
func (r *Redis) Stop() {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}
