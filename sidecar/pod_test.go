package sidecar_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/server"
	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/sidecar"
)

// pod is an engine and a sidecar started in this process through the library
// calls, as a replica provider would start them.
type pod struct {
	url  string
	eng  *server.Running
	stop func() // stops the sidecar, then the engine; safe to call twice
}

// startPod starts stories260K with its adapters; cfg adds to the sidecar's
// config. Both stop, in the production order, when the test ends.
func startPod(t *testing.T, cfg sidecar.Config) *pod {
	t.Helper()
	root := testmodels.Path(t, "stories260K")
	adapters := filepath.Join(root, "adapters")
	eng, err := server.Start(context.Background(), server.Options{
		Model: filepath.Join(root, "gguf", "stories260K.gguf"), ServedName: "stories260K",
		Device: "cpu", Threads: 1, Engine: engine.Config{MaxNumSeqs: 4}, AdapterDirs: []string{adapters}, Drain: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Engine, cfg.Listen, cfg.AdapterRoot, cfg.AdapterCache = eng.Addr(), "127.0.0.1:0", adapters, t.TempDir()
	listening := make(chan string, 1)
	cfg.Drain = 5 * time.Second
	cfg.OnListen = func(addr string) { listening <- addr }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sidecar.Run(ctx, cfg) }()
	var p *pod
	select {
	case addr := <-listening:
		p = &pod{url: "http://" + addr, eng: eng}
		var once sync.Once
		p.stop = func() {
			once.Do(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("sidecar.Run: %v", err)
				}
				eng.Stop()
				if err := eng.Wait(); err != nil {
					t.Errorf("engine: %v", err)
				}
			})
		}
	case err := <-done:
		cancel()
		eng.Stop()
		t.Fatalf("sidecar.Run: %v", err)
	}
	t.Cleanup(p.stop)
	return p
}

type goldenRun struct {
	Adapter *string `json:"adapter"`
	Prompt  string  `json:"prompt"`
	Text    string  `json:"text"`
}

// goldenRuns are the reference's greedy continuations of 64 tokens, with and
// without adapters.
func goldenRuns(t *testing.T) []goldenRun {
	t.Helper()
	data, err := os.ReadFile(testmodels.Path(t, "stories260K", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Reference struct{ Runs []goldenRun } `json:"reference"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return g.Reference.Runs
}

// checkGolden asks the pod for each reference continuation that has a prompt
// and requires the exact text.
func checkGolden(t *testing.T, url string) {
	t.Helper()
	for _, run := range goldenRuns(t) {
		if run.Prompt == "" {
			continue
		}
		model := "stories260K"
		if run.Adapter != nil {
			model = *run.Adapter
		}
		body := fmt.Sprintf(`{"model": %q, "prompt": %q, "max_tokens": 64, "temperature": 0}`, model, run.Prompt)
		status, out := post(t, url+"/v1/completions", body)
		var c struct {
			Choices []struct{ Text string }
		}
		if status != 200 || json.Unmarshal([]byte(out), &c) != nil || len(c.Choices) != 1 || c.Choices[0].Text != run.Text {
			t.Errorf("%s %q: %d %s, want %q", model, run.Prompt, status, out, run.Text)
		}
	}
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(out)
}
