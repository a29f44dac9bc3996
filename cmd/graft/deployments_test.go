package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/internal/testserver"
)

// TestDeploymentsCLI drives a real control process (a graft control child
// with a real Redis, starting real replicas) through the graft deployments
// commands, as a script would.
func TestDeploymentsCLI(t *testing.T) {
	model := testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf")
	adapters := filepath.Join(filepath.Dir(filepath.Dir(model)), "adapters")
	rs := testserver.RedisAOF(t)
	addr := freeAddr(t)
	ctl := startGraft(t, addr, "control", "--redis", "redis://"+rs.Addr+"/0", "--api-listen", addr,
		"--adapter-cache", t.TempDir(), "--replica-ready-timeout", "90s")
	url := "http://" + addr
	cli := func(args ...string) result {
		t.Helper()
		return graft(t, nil, append([]string{"deployments"}, append(args, "--api-url", url)...)...)
	}
	getJSON := func(name string) map[string]any {
		t.Helper()
		r := cli("get", name, "--json")
		var d map[string]any
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &d) != nil {
			t.Fatalf("get %s --json: %d %s %s", name, r.code, r.stdout, r.stderr)
		}
		return d
	}
	waitCLIStatus := func(name, want string) map[string]any {
		t.Helper()
		end := time.Now().Add(60 * time.Second)
		for {
			d := getJSON(name)
			if d["status"] == want {
				return d
			}
			if time.Now().After(end) {
				t.Fatalf("%s is %v (%v), want %s", name, d["status"], d["status_reason"], want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	r := cli("create", "demo", "--base-model", model, "--adapter-source", adapters, "--min-replicas", "0",
		"--max-replicas", "1", "--cooldown", "1h", "--scale-up-threshold", "2", "--preload", "all-r8",
		"--type", "serverless", "--threads", "1", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"name": "demo"`) {
		t.Fatalf("create: %d %s %s", r.code, r.stdout, r.stderr)
	}
	d := waitCLIStatus("demo", "Standby")
	for _, f := range []string{"name", "status", "status_reason", "type", "generation", "replicas", "spec", "created_at", "updated_at"} {
		if _, ok := d[f]; !ok {
			t.Errorf("get --json lacks %q", f)
		}
	}
	spec := d["spec"].(map[string]any)
	if d["type"] != "serverless" || spec["cooldown"] != "1h0m0s" || spec["scale_up_threshold"] != 2.0 || spec["base_model"] != model {
		t.Errorf("spec from the flags: %v", d)
	}
	// Bad input: exit 2, the field named, nothing created.
	for _, bad := range [][]string{
		{"create", "Not_A_Label", "--base-model", model},
		{"create", "x", "--base-model", filepath.Join(t.TempDir(), "missing.gguf")},
		{"create", "x", "--base-model", model, "--min-replicas", "-1"},
		{"create", "x", "--base-model", model, "--min-replicas", "3", "--max-replicas", "2"},
	} {
		r := cli(bad...)
		if r.code != 2 || !strings.Contains(r.stderr, "param") {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming the field", bad, r.code, r.stderr)
		}
	}
	if r := cli("list"); r.code != 0 || strings.Count(r.stdout, "\n") != 2 || !strings.Contains(r.stdout, "demo") {
		t.Errorf("list after refused creates: %d %q", r.code, r.stdout)
	}
	// Wake starts a real replica (a grandchild: the control process's child).
	if r := cli("wake", "demo"); r.code != 0 || !strings.Contains(r.stdout, "Ready") {
		t.Fatalf("wake: %d %s %s\ncontrol logs:\n%s", r.code, r.stdout, r.stderr, ctl.logs.String())
	}
	if reps := getJSON("demo")["replicas"].(map[string]any); reps["ready"] != 1.0 || reps["desired"] != 1.0 {
		t.Errorf("replicas after wake: %v", reps)
	}
	if r := cli("stop", "demo"); r.code != 0 || !strings.Contains(r.stdout, "deployment demo: Stopped") {
		t.Errorf("stop: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := cli("wake", "demo"); r.code == 0 || !strings.Contains(r.stderr, "Stopped") {
		t.Errorf("wake of a Stopped deployment: %d %s", r.code, r.stderr)
	}
	// GRAFT_API_URL stands in for --api-url.
	if r := graft(t, []string{"GRAFT_API_URL=" + url}, "deployments", "start", "demo"); r.code != 0 || !strings.Contains(r.stdout, "Standby") {
		t.Errorf("start with GRAFT_API_URL: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := cli("update", "demo", "--max-replicas", "2"); r.code != 0 || !strings.Contains(r.stdout, "generation:  2") {
		t.Errorf("update: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := cli("delete", "demo"); r.code != 0 || !strings.Contains(r.stdout, "Deleted") {
		t.Errorf("delete: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = cli("events", "demo")
	want := []string{"Pending -> Standby", "Standby -> Initializing", "Initializing -> Ready", "Ready -> Stopped", "Stopped -> Standby", "Standby -> Deleted"}
	for _, w := range want {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("events lack %q:\n%s", w, r.stdout)
		}
	}
	if r := cli("get", "nope"); r.code != 1 || !strings.Contains(r.stderr, "404") {
		t.Errorf("get of a missing deployment: %d %s", r.code, r.stderr)
	}
	ctl.stop(t)
}
