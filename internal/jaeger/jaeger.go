// Package jaeger runs a Jaeger all-in-one (traces kept in memory, OTLP/gRPC
// in, query API out) on loopback ports, for graft up and the tests.
package jaeger

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Version is the Jaeger `make jaeger` builds from the Go module proxy.
const Version = "v1.76.0"

// Binary is $GRAFT_JAEGER, or the build in the user cache
// (graft/jaeger-<Version>/jaeger).
func Binary() (string, error) {
	if p := os.Getenv("GRAFT_JAEGER"); p != "" {
		return p, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "graft", "jaeger-"+Version, "jaeger")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no Jaeger %s at %s; `make jaeger` builds it", Version, p)
	}
	return p, nil
}

// config binds every port to 127.0.0.1: the query extension ignores
// JAEGER_LISTEN_HOST, so its defaults would listen on all interfaces.
const config = `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:%d
    grpc:
      endpoint: 127.0.0.1:%d
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`

// Jaeger is a running Jaeger.
type Jaeger struct {
	OTLP     string // host:port of its OTLP/gRPC receiver
	QueryURL string // http://host:port of its query API (/api/traces)
	PID      int
	cmd      *exec.Cmd
	done     chan struct{}
}

// Start runs bin with its config and log in dir and returns once the query
// API answers.
func Start(bin, dir string) (*Jaeger, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "jaeger.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, config, ports[0], ports[1], ports[2]), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "jaeger.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--config", "file:"+cfg)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	j := &Jaeger{OTLP: fmt.Sprintf("127.0.0.1:%d", ports[2]), QueryURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		PID: cmd.Process.Pid, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(j.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := j.ready()
		if err == nil {
			return j, nil
		}
		select {
		case <-j.done:
			return nil, fmt.Errorf("jaeger exited (see %s)", logf.Name())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			j.Stop()
			return nil, fmt.Errorf("jaeger did not answer (see %s): %w", logf.Name(), err)
		}
	}
}

func (j *Jaeger) ready() error {
	resp, err := http.Get(j.QueryURL + "/api/services")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return errors.New(resp.Status)
	}
	return nil
}

// Stop ends Jaeger by its process id (SIGKILL after 5 s) and waits for it.
func (j *Jaeger) Stop() {
	_ = syscall.Kill(-j.PID, syscall.SIGTERM)
	select {
	case <-j.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-j.PID, syscall.SIGKILL)
		<-j.done
	}
}

// freePorts asks the kernel for n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
