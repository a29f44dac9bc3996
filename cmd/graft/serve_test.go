package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/graft-ai/graft/internal/testgraft"
	"github.com/graft-ai/graft/internal/testmodels"
)

// sdkDir holds the node test that drives graft serve with the official openai
// npm client; `npm ci --prefix sidecar/openai/testdata/openai-sdk` installs it.
var sdkDir = filepath.Join("..", "..", "sidecar", "openai", "testdata", "openai-sdk")

// TestServeWithOpenAISDK runs a real `graft serve` process and points the
// official openai client at it, then checks SIGTERM shuts it down cleanly.
func TestServeWithOpenAISDK(t *testing.T) {
	model := testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf")
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the openai SDK test needs node and npm")
	}
	if _, err := os.Stat(filepath.Join(sdkDir, "node_modules", "openai")); err != nil {
		t.Skipf("the openai npm package is not installed: run npm ci --prefix %s", filepath.Clean(filepath.Join("sidecar", "openai", "testdata", "openai-sdk")))
	}
	addr := freeAddr(t)
	serve := startGraft(t, addr, "serve", "--model", model, "--listen", addr, "--max-num-seqs", "8",
		"--adapter-root", filepath.Dir(filepath.Dir(model))+"/adapters")

	test := exec.Command(node, "--test", "sdk.test.mjs")
	test.Dir = sdkDir
	test.Env = append(os.Environ(), "GRAFT_URL=http://"+addr+"/v1", "GRAFT_MODEL=stories260K",
		"GRAFT_GOLDEN="+filepath.Join(filepath.Dir(filepath.Dir(model)), "golden.json"))
	out, err := test.CombinedOutput()
	if err != nil {
		t.Fatalf("openai SDK test failed: %v\n%s\ngraft serve logs:\n%s", err, out, serve.logs.String())
	}
	t.Logf("openai SDK test:\n%s", lastLines(string(out), 9))

	serve.stop(t)
}

// graftProcess is a graft subcommand running as a child process for a test.
type graftProcess struct {
	cmd    *exec.Cmd
	exited chan error
	logs   lockedBuffer
}

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startGraft starts graft with args, waits until addr answers /readyz, and
// kills the process at test end if the test did not stop it.
func startGraft(t *testing.T, addr string, args ...string) *graftProcess {
	t.Helper()
	return startGraftEnv(t, addr, nil, args...)
}

// startGraftEnv is startGraft with env added to the child's environment.
func startGraftEnv(t *testing.T, addr string, env []string, args ...string) *graftProcess {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &graftProcess{cmd: exec.Command(exe, args...), exited: make(chan error, 1)}
	p.cmd.Env = append(append(os.Environ(), "GRAFT_TEST_RUN_MAIN=1", "GRAFT_TESTDATA="+testmodels.Dir(), testgraft.TempEnv(t)), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.logs, &p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	waitReady(t, "http://"+addr+"/readyz", p.exited, &p.logs)
	return p
}

// stop sends SIGTERM and requires a clean exit.
func (p *graftProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-p.exited; err != nil {
		t.Fatalf("graft %s after SIGTERM: %v\n%s", p.cmd.Args[1], err, p.logs.String())
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitReady polls /readyz until the pod is up or the process exits.
func waitReady(t *testing.T, url string, exited <-chan error, logs fmt.Stringer) {
	t.Helper()
	for {
		select {
		case err := <-exited:
			t.Fatalf("graft serve exited early: %v\n%s", err, logs.String())
		default:
		}
		if r, err := http.Get(url); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
