package deploy_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/engine/server"
	"github.com/graft-ai/graft/internal/testserver"
)

// TestErroredThenFixed: a model the engine cannot load leaves the deployment
// Errored with the engine's own error; a spec with a good model brings it up.
func TestErroredThenFixed(t *testing.T) {
	p := newPlatform(t)
	ctx := context.Background()
	bad := filepath.Join(t.TempDir(), "broken.gguf")
	if err := os.WriteFile(bad, []byte("GGUF but not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, want := server.Start(ctx, server.Options{Model: bad})
	if want == nil {
		t.Fatal("the engine loaded a broken file")
	}
	good := storiesSpec(t, `, "min_replicas": 1`)
	broken := good
	broken.BaseModel = bad
	if _, err := p.m.Create(ctx, "fixme", broken); err != nil {
		t.Fatal(err)
	}
	r := p.waitStatus("fixme", deploy.Errored)
	if !strings.Contains(r.StatusReason, want.Error()) {
		t.Fatalf("Errored reason %q does not carry the engine's error %q", r.StatusReason, want)
	}
	p.waitReplicas("fixme", 0, "")
	var we *deploy.WakeError
	if err := p.m.Wake(ctx, "fixme"); !errors.As(err, &we) || !strings.Contains(err.Error(), want.Error()) {
		t.Fatalf("Wake of an Errored deployment: %v", err)
	}
	if _, err := p.m.Update(ctx, "fixme", []byte(fmt.Sprintf(`{"base_model": %q}`, good.BaseModel))); err != nil {
		t.Fatal(err)
	}
	r = p.waitStatus("fixme", deploy.Ready)
	if r.Generation != 2 || r.ReplicaGeneration != 2 {
		t.Errorf("after the fix: generation %d, replica generation %d; want 2 and 2", r.Generation, r.ReplicaGeneration)
	}
	if got, want := p.history("fixme"), "Pending Initializing Errored Initializing Ready"; got != want {
		t.Fatalf("events:\n got %s\nwant %s", got, want)
	}
}

// stream runs one streamed completion on addr and returns how many tokens
// came and whether it ended properly (a finish_reason and [DONE]).
func stream(ctx context.Context, addr, model string, tokens int) (int, bool, error) {
	body := fmt.Sprintf(`{"model": %q, "prompt": "Once upon a time", "max_tokens": %d, "ignore_eos": true, "stream": true}`, model, tokens)
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/v1/completions", strings.NewReader(body))
	if err != nil {
		return 0, false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, false, fmt.Errorf("status %s", resp.Status)
	}
	n, finished, done := 0, false, false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "data: [DONE]":
			done = true
		case strings.HasPrefix(line, "data: "):
			n++
			finished = finished || strings.Contains(line, `"finish_reason":"length"`)
		}
	}
	return n, finished && done, sc.Err()
}

// liveAddrs lists where the deployment's live replicas listen.
func (p *platform) liveAddrs(name string) []string {
	var out []string
	for _, r := range p.prov.List(name) {
		if r.Phase == deploy.PhaseLive {
			out = append(out, r.Addr)
		}
	}
	return out
}

// TestScalesWithLoad: streams from a test client keep more requests per
// replica than the threshold, so a second replica starts (max 2); when the
// client stops, one goes after the cooldown.
func TestScalesWithLoad(t *testing.T) {
	p := newPlatform(t)
	ctx := context.Background()
	if _, err := p.m.Create(ctx, "busy", storiesSpec(t, `, "min_replicas": 1, "max_replicas": 2, "scale_up_threshold": 1`)); err != nil {
		t.Fatal(err)
	}
	p.waitStatus("busy", deploy.Ready)
	p.waitReplicas("busy", 1, deploy.PhaseLive)
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var served atomic.Int64
	for i := range 6 {
		wg.Go(func() {
			for lctx.Err() == nil {
				addrs := p.liveAddrs("busy")
				if len(addrs) == 0 {
					continue
				}
				// ctx, not lctx: a stream under way when the load stops finishes.
				if _, ok, _ := stream(ctx, addrs[i%len(addrs)], "busy", 400); ok {
					served.Add(1)
				}
			}
		})
	}
	p.waitReplicas("busy", 2, deploy.PhaseLive)
	stopLoad()
	wg.Wait()
	if served.Load() == 0 {
		t.Fatal("no stream completed under load")
	}
	r := p.waitStatus("busy", deploy.Ready)
	p.waitReplicas("busy", 1, deploy.PhaseLive)
	up := p.counter("graft_deployment_scale_decisions_total", map[string]string{"deployment": "busy", "direction": "up"})
	down := p.counter("graft_deployment_scale_decisions_total", map[string]string{"deployment": "busy", "direction": "down"})
	if up != 1 || down != 1 {
		t.Errorf("scale decisions: %v up, %v down; want 1 and 1", up, down)
	}
	if r, _ = p.m.Get(ctx, "busy"); r.Desired != 1 || r.Status != deploy.Ready {
		t.Errorf("after the load: %s, desired %d", r.Status, r.Desired)
	}
	if got := p.history("busy"); got != "Pending Initializing Ready" {
		t.Errorf("scaling changed the status: %s", got)
	}
}

// TestKilledReplicaIsReplaced: kill -9 one of two replicas; a new one takes
// its place, the deployment stays Ready and its record does not change.
func TestKilledReplicaIsReplaced(t *testing.T) {
	p := newPlatform(t)
	ctx := context.Background()
	if _, err := p.m.Create(ctx, "sturdy", storiesSpec(t, `, "min_replicas": 2, "max_replicas": 2`)); err != nil {
		t.Fatal(err)
	}
	p.waitStatus("sturdy", deploy.Ready)
	before := p.waitReplicas("sturdy", 2, deploy.PhaseLive)
	rec, _ := p.m.Get(ctx, "sturdy")
	events, _ := p.m.Events(ctx, "sturdy", "", 1000)
	victim := before[0].ID
	pid := p.prov.PIDs("sturdy")[victim]
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(deadline)
	for {
		now, _ := p.m.Get(ctx, "sturdy")
		if now.Status != deploy.Ready {
			t.Fatalf("after a replica was killed the deployment became %s (%s)", now.Status, now.StatusReason)
		}
		rs := p.prov.List("sturdy")
		if len(rs) == 2 && rs[0].Phase == deploy.PhaseLive && rs[1].Phase == deploy.PhaseLive && rs[0].ID != victim && rs[1].ID != victim {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("replicas %+v: the killed one was not replaced", rs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	after, _ := p.m.Get(ctx, "sturdy")
	if !after.Updated.Equal(rec.Updated) || after.Desired != rec.Desired || after.Status != rec.Status {
		t.Errorf("the record changed: %+v, was %+v", after, rec)
	}
	if evs, _ := p.m.Events(ctx, "sturdy", "", 1000); len(evs) != len(events) {
		t.Errorf("%d events after the kill, %d before", len(evs), len(events))
	}
	if n := p.counter("graft_deployment_replica_replacements_total", map[string]string{"deployment": "sturdy"}); n != 1 {
		t.Errorf("replacements counted: %v, want 1", n)
	}
	waitHeartbeatGone(t, p, "sturdy", victim)
}

func waitHeartbeatGone(t *testing.T, p *platform, dep, id string) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		_, ok, err := p.store.GetReplica(context.Background(), dep, id)
		if err == nil && !ok {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("the killed replica's heartbeat did not expire")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestUpdateWhileStreaming: a config change on a Ready deployment replaces
// its replica (Updating, then Ready) while streams run on the old one; every
// stream the old replica accepted completes.
func TestUpdateWhileStreaming(t *testing.T) {
	p := newPlatform(t)
	ctx := context.Background()
	if _, err := p.m.Create(ctx, "roll", storiesSpec(t, `, "min_replicas": 1`)); err != nil {
		t.Fatal(err)
	}
	p.waitStatus("roll", deploy.Ready)
	old := p.waitReplicas("roll", 1, deploy.PhaseLive)[0]

	// Watch for the moment the old replica is told to stop.
	var stoppingAt atomic.Int64
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		for wctx.Err() == nil {
			for _, r := range p.prov.List("roll") {
				if r.ID == old.ID && r.Phase == deploy.PhaseStopping && stoppingAt.Load() == 0 {
					stoppingAt.Store(time.Now().UnixNano())
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	type result struct {
		start, end int64
		tokens     int
		ok         bool
		err        error
	}
	var mu sync.Mutex
	var results []result
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for lctx.Err() == nil {
				start := time.Now().UnixNano()
				n, ok, err := stream(ctx, old.Addr, "roll", 400)
				mu.Lock()
				results = append(results, result{start, time.Now().UnixNano(), n, ok, err})
				mu.Unlock()
				if err != nil {
					return // the old replica no longer accepts: it is draining or gone
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := p.m.Update(ctx, "roll", []byte(`{"threads": 2}`)); err != nil {
		t.Fatal(err)
	}
	if r, _ := p.m.Get(ctx, "roll"); r.Status != deploy.Updating {
		t.Fatalf("after a config change: %s", r.Status)
	}
	r := p.waitStatus("roll", deploy.Ready)
	p.waitReplicas("roll", 1, deploy.PhaseLive)
	stopLoad()
	wg.Wait()
	if got := p.prov.List("roll")[0]; got.ID == old.ID || got.Generation != r.ReplicaGeneration {
		t.Fatalf("the replica was not replaced: %+v (record generation %d)", got, r.ReplicaGeneration)
	}
	spanned := 0
	for _, res := range results {
		if res.err == nil && !res.ok {
			t.Errorf("a stream accepted by the old replica ended early: %d tokens", res.tokens)
		}
		if s := stoppingAt.Load(); res.ok && res.start < s && res.end > s {
			spanned++
		}
	}
	if stoppingAt.Load() == 0 || spanned == 0 {
		t.Fatalf("no stream was running when the old replica was told to stop (%d streams); the test proved nothing", len(results))
	}
	if got := p.history("roll"); got != "Pending Initializing Ready Updating Ready" {
		t.Errorf("events: %s", got)
	}
}

// TestRedisKilledAndRestarted: kill -9 of redis-server loses no deployment,
// status or event (append-only file), and the controllers carry on: a
// Standby deployment wakes afterwards and the running replica's heartbeat is
// back.
func TestRedisKilledAndRestarted(t *testing.T) {
	p := newPlatform(t)
	ctx := context.Background()
	if _, err := p.m.Create(ctx, "sleepy", storiesSpec(t, "")); err != nil {
		t.Fatal(err)
	}
	if _, err := p.m.Create(ctx, "awake", storiesSpec(t, `, "min_replicas": 1`)); err != nil {
		t.Fatal(err)
	}
	p.waitStatus("sleepy", deploy.Standby)
	p.waitStatus("awake", deploy.Ready)
	replica := p.waitReplicas("awake", 1, deploy.PhaseLive)[0]
	before := map[string]string{}
	for _, n := range []string{"sleepy", "awake"} {
		r, _ := p.m.Get(ctx, n)
		before[n] = fmt.Sprintf("%s %q gen %d desired %d | %s", r.Status, r.StatusReason, r.Generation, r.Desired, p.history(n))
	}
	testserver.WaitAOFWritten(t, p.redis.Addr)
	p.redis.Kill()
	time.Sleep(time.Second) // the controllers run a few rounds without Redis
	testserver.RestartRedisAOF(t, p.redis)
	for n, want := range before {
		r, err := p.m.Get(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%s %q gen %d desired %d | %s", r.Status, r.StatusReason, r.Generation, r.Desired, p.history(n)); got != want {
			t.Errorf("%s after the restart:\n got %s\nwant %s", n, got, want)
		}
	}
	if rs := p.prov.List("awake"); len(rs) != 1 || rs[0].ID != replica.ID || rs[0].Phase != deploy.PhaseLive {
		t.Errorf("the running replica did not survive the Redis restart: %+v", rs)
	}
	wctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	if err := p.m.Wake(wctx, "sleepy"); err != nil {
		t.Fatalf("Wake after the restart: %v", err)
	}
	end := time.Now().Add(deadline)
	for {
		if _, ok, _ := p.store.GetReplica(ctx, "awake", replica.ID); ok {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the replica's heartbeat did not come back after the restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRollingUpdateSurgesOne: with two replicas a config change never runs
// more than three at once (surge one) and never fewer than two serving.
func TestRollingUpdateSurgesOne(t *testing.T) {
	p := newPlatform(t)
	ctx := context.Background()
	if _, err := p.m.Create(ctx, "pair", storiesSpec(t, `, "min_replicas": 2, "max_replicas": 2`)); err != nil {
		t.Fatal(err)
	}
	p.waitStatus("pair", deploy.Ready)
	old := p.waitReplicas("pair", 2, deploy.PhaseLive)
	if _, err := p.m.Update(ctx, "pair", []byte(`{"context_length": 256}`)); err != nil {
		t.Fatal(err)
	}
	most, fewest := 0, 2
	end := time.Now().Add(deadline)
	for {
		rs := p.prov.List("pair")
		running, serving := 0, 0
		for _, r := range rs {
			if r.Phase == deploy.PhaseStarting || r.Phase == deploy.PhaseLive {
				running++
			}
			if r.Phase == deploy.PhaseLive {
				serving++
			}
		}
		most, fewest = max(most, running), min(fewest, serving)
		rec, _ := p.m.Get(ctx, "pair")
		if rec.Status == deploy.Ready && serving == 2 && running == 2 {
			for _, r := range rs {
				if r.Phase == deploy.PhaseStopping {
					continue // an old one still draining
				}
				if r.Generation != 2 || r.ID == old[0].ID || r.ID == old[1].ID {
					t.Fatalf("after the update: %+v", rs)
				}
			}
			break
		}
		if time.Now().After(end) {
			t.Fatalf("update did not finish: %s, replicas %+v", rec.Status, rs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if most > 3 || fewest < 2 {
		t.Fatalf("during the update: up to %d replicas running, as few as %d serving; want at most 3 and at least 2", most, fewest)
	}
	if got := p.history("pair"); got != "Pending Initializing Ready Updating Ready" {
		t.Errorf("events: %s", got)
	}
}
