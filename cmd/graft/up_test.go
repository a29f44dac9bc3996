package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/graft-ai/graft/internal/testmodels"
)

// TestUpServesTheDemo: `graft up` with no model deploys stories260K and its
// four adapters (deployment stories260k, a replica started by its own control
// process and Redis) and prints examples that work as printed.
func TestUpServesTheDemo(t *testing.T) {
	testmodels.Path(t, "stories260K", "hf")
	addr := freeAddr(t)
	up := startGraft(t, addr, "up", "--listen", addr, "--api-listen", freeAddr(t), "--state-dir", t.TempDir())

	r, err := http.Get("http://" + addr + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Data []struct {
			ID     string  `json:"id"`
			Parent *string `json:"parent"`
		} `json:"data"`
	}
	json.NewDecoder(r.Body).Decode(&list)
	r.Body.Close()
	var adapters []string
	for _, m := range list.Data {
		if m.Parent != nil && *m.Parent == "stories260k" {
			adapters = append(adapters, m.ID)
		}
	}
	if len(adapters) != 4 {
		t.Fatalf("demo serves adapters %v, want the four stories260K adapters", adapters)
	}
	// The printed curl example, run as printed.
	body := `{"model": "all-r8", "messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": 8}`
	if !strings.Contains(up.logs.String(), strings.ReplaceAll(body, "8}", "48}")) {
		t.Errorf("graft up did not print the chat example:\n%s", up.logs.String())
	}
	resp, err := http.Post("http://"+addr+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(out), `"completion_tokens":8`) {
		t.Fatalf("chat example: %d %s", resp.StatusCode, out)
	}
	up.stop(t)
}

// TestUpScalesToZeroAndWakes: with min_replicas 0 the demo waits in Standby;
// a request through graft up's front wakes it, and after the cooldown it is
// back in Standby, twice over.
func TestUpScalesToZeroAndWakes(t *testing.T) {
	testmodels.Path(t, "stories260K", "hf")
	addr, api := freeAddr(t), freeAddr(t)
	up := startGraft(t, addr, "up", "--listen", addr, "--api-listen", api, "--state-dir", t.TempDir(),
		"--min-replicas", "0", "--cooldown", "2s")
	status := func() string {
		r := graft(t, nil, "deployments", "get", "stories260k", "--json", "--api-url", "http://"+api)
		var d struct{ Status string }
		if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
			t.Fatalf("get: %d %s %s", r.code, r.stdout, r.stderr)
		}
		return d.Status
	}
	waitFor(t, "Standby before any request", func() bool { return status() == "Standby" })
	for range 2 {
		resp, err := http.Post("http://"+addr+"/v1/completions", "application/json",
			strings.NewReader(`{"model": "stories260k", "prompt": "Once", "max_tokens": 4}`))
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(out), `"completion_tokens":4`) {
			t.Fatalf("a request to a Standby deployment: %d %s\n%s", resp.StatusCode, out, up.logs.String())
		}
		waitFor(t, "Standby after the cooldown", func() bool { return status() == "Standby" })
	}
	events := graft(t, nil, "deployments", "events", "stories260k", "--api-url", "http://"+api).stdout
	if n := strings.Count(events, "Standby -> Initializing"); n != 2 {
		t.Errorf("woken %d times, want 2:\n%s", n, events)
	}
	up.stop(t)
}
