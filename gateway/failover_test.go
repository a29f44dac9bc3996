package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/gateway"
	"github.com/graft-ai/graft/internal/testgraft"
	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/internal/testserver"
	"github.com/graft-ai/graft/xds"
)

// replicaProc is a pod as its own process (graft serve), so it can be
// killed the way a crash kills one.
type replicaProc struct {
	id  string
	cmd *exec.Cmd
}

func startReplicaProc(t *testing.T, redisURL, id string) *replicaProc {
	t.Helper()
	root := testmodels.Path(t, "stories260K")
	addr := fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t))
	cmd := exec.Command(testgraft.Binary(t), "serve", "--model", filepath.Join(root, "gguf", "stories260K.gguf"),
		"--adapter-root", filepath.Join(root, "adapters"), "--adapter-cache", t.TempDir(), "--listen", addr,
		"--redis", redisURL, "--deployment", "stories", "--replica-id", id, "--threads", "1",
		// A long heartbeat TTL: the dead replica's entry outlives the test, so
		// only Envoy's health checks and outlier detection can take it out.
		"--heartbeat-ttl", "60s", "--drain-timeout", "20s")
	cmd.Env = append(os.Environ(), "GRAFT_LOG_LEVEL=warn", testgraft.TempEnv(t))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &replicaProc{id: id, cmd: cmd}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(time.Minute)
	for {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s never ready", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stream runs one SSE completion and reports the replica that served it and
// whether it ended with [DONE].
func (p *platform) stream(ctx context.Context, model string, tokens int) (replica string, done bool, err error) {
	body := fmt.Sprintf(`{"model":%q,"prompt":"Once upon a time","max_tokens":%d,"stream":true,"ignore_eos":true}`, model, tokens)
	req, _ := http.NewRequestWithContext(ctx, "POST", p.url+"/v1/completions", strings.NewReader(body))
	req.Header.Set("authorization", "Bearer "+p.key)
	resp, err := p.client.Do(req)
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	replica = resp.Header.Get("x-graft-replica")
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return replica, false, fmt.Errorf("status %d (replica %q, envoy flags %q): %s", resp.StatusCode, replica,
			resp.Header.Get("x-envoy-response-flags"), b)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == "data: [DONE]" {
			return replica, true, nil
		}
	}
	return replica, false, sc.Err()
}

// TestFrontSurvivesReplicaLossAndChanges, under steady load through the real
// Envoy: kill -9 of one replica of three leaves the streams on the others
// running to the end, and within 5 s no new request fails; a replica added,
// then one removed gracefully (SIGTERM: it drains), drops no request.
func TestFrontSurvivesReplicaLossAndChanges(t *testing.T) {
	testmodels.Path(t, "stories260K")
	if _, err := xds.EnvoyBinary("."); err != nil {
		t.Skipf("no Envoy here (%v); make test installs it", err)
	}
	store, url := redisState(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p := &platform{store: store, records: deploy.Records{Store: store}, redisURL: url}
	p.deployment(t, "stories", fmt.Sprintf(`{"base_model": %q}`, testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf")),
		deploy.Initializing, deploy.Ready)
	reps := []*replicaProc{startReplicaProc(t, url, "r0"), startReplicaProc(t, url, "r1"), startReplicaProc(t, url, "r2")}
	p.startFront(t, ctx, gateway.FromRecords(p.records, p.records), nil)
	p.key = p.newKey(t, "acme")
	p.waitRoutable(t, "stories", 3)

	// Steady load: short requests over 12 adapters' keys (and the base).
	var sent, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	phase := atomic.Value{}
	phase.Store("start")
	loadCtx, stopLoad := context.WithCancel(ctx)
	var loadWG sync.WaitGroup
	for w := range 4 {
		loadWG.Add(1)
		go func() {
			defer loadWG.Done()
			for i := 0; loadCtx.Err() == nil; i++ {
				model := "stories"
				if a := []string{"all-r8", "mlp-r16", "o-r2-rslora", "qv-r4"}; (i+w)%5 != 4 {
					model += "/" + a[(i+w)%5]
				}
				sent.Add(1)
				if _, _, err := p.stream(loadCtx, model, 4); err != nil && loadCtx.Err() == nil {
					failed.Add(1)
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s: %v", phase.Load(), err))
					mu.Unlock()
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	// Long streams on every replica, then kill r1 while they run.
	type result struct {
		replica string
		done    bool
		err     error
	}
	results := make(chan result, 12)
	for i := range 12 {
		go func() {
			r, d, err := p.stream(ctx, "stories/"+[]string{"all-r8", "mlp-r16", "o-r2-rslora", "qv-r4"}[i%4], 300)
			results <- result{r, d, err}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	reps[1].cmd.Process.Signal(syscall.SIGKILL)
	killed := time.Now()
	phase.Store("within 5 s of the kill")
	for range 12 {
		r := <-results
		if r.replica != "r1" && (!r.done || r.err != nil) {
			t.Errorf("a stream on %s did not finish: done=%v err=%v", r.replica, r.done, r.err)
		}
	}
	time.Sleep(time.Until(killed.Add(5 * time.Second)))
	mu.Lock()
	beforeSettle := len(failures)
	mu.Unlock()
	phase.Store("after the kill settled")
	time.Sleep(2 * time.Second)

	phase.Store("adding r3")
	reps = append(reps, startReplicaProc(t, url, "r3"))
	time.Sleep(2 * time.Second)
	phase.Store("draining r0")
	reps[0].cmd.Process.Signal(syscall.SIGTERM)
	reps[0].cmd.Wait()
	time.Sleep(2 * time.Second)
	stopLoad()
	loadWG.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d requests under load; %d failed, %d of them within 5 s of the kill", sent.Load(), failed.Load(), beforeSettle)
	if late := failures[beforeSettle:]; len(late) > 0 {
		t.Errorf("requests failed after the kill settled or while replicas changed: %v", late)
	}
}
