// Package testserver starts real servers (redis-server) for tests:
// each binds to 127.0.0.1 on a free port, keeps its files in the test's temp dir and
// is stopped by its own process id when the test ends.
package testserver

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Process is a server started for one test.
type Process struct {
	Addr string // host:port on 127.0.0.1
	PID  int
	cmd  *exec.Cmd
	log  string
	dir  string // data folder kept across RestartRedisAOF; "" for others
}

// FreePort asks the kernel for a free loopback port. Another process can take it
// before the server binds, so callers retry on a bind failure.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs bin with args and registers a cleanup that stops it by process id.
func start(t testing.TB, dir, bin string, args ...string) *Process {
	t.Helper()
	logPath := filepath.Join(dir, filepath.Base(bin)+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so a stop also reaches anything it forks.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", bin, err)
	}
	logf.Close()
	p := &Process{PID: cmd.Process.Pid, cmd: cmd, log: logPath}
	t.Cleanup(p.Stop)
	return p
}

// Stop terminates the server by its process id, escalating to SIGKILL after 5 s.
// It is safe to call more than once.
func (p *Process) Stop() {
	if p.cmd == nil || p.cmd.ProcessState != nil {
		return
	}
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	_ = syscall.Kill(-p.PID, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.PID, syscall.SIGKILL)
		<-done
	}
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	return syscall.Kill(p.PID, 0) != nil
}

// Log returns what the server printed, for failure messages.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

func waitFor(p *Process, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = ready(); err == nil {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("exited early: %v\n%s", err, p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %v\n%s", timeout, err, p.Log())
}

func itoa(n int) string { return strconv.Itoa(n) }

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
