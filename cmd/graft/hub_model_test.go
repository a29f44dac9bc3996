package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ai/graft/internal/testhub"
	"github.com/graft-ai/graft/internal/testmodels"
)

const hubRepo = "graft-ai/stories260K"

// completion asks a served pod for a greedy completion and returns its text.
func completion(t *testing.T, addr, model string) string {
	t.Helper()
	body := `{"model": "` + model + `", "prompt": "Once upon a time", "max_tokens": 24, "temperature": 0}`
	resp, err := http.Post("http://"+addr+"/v1/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Choices []struct{ Text string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || len(out.Choices) != 1 {
		t.Fatalf("completion of %s: status %d, %+v, %v", model, resp.StatusCode, out, err)
	}
	return out.Choices[0].Text
}

// TestServeHubModel: `graft serve --model hf://...` fetches the model from a
// server with the Hub's layout and answers as serving the local folder does; a
// second start loads it from the cache; a lying server and a missing repo end
// the start with an error naming the model and leave the cache clean.
func TestServeHubModel(t *testing.T) {
	local := testmodels.Path(t, "stories260K", "hf")
	h := testhub.New(t)
	h.AddDir(t, hubRepo, local)
	h.AddDir(t, "graft-ai/liar", local)
	h.Tamper("graft-ai/liar", testhub.TamperSHA)
	cache := t.TempDir()
	env := []string{"HF_ENDPOINT=" + h.URL, "HF_TOKEN=", "HF_HUB_OFFLINE=", "GRAFT_MODEL_CACHE=" + cache}

	addr := freeAddr(t)
	p := startGraft(t, addr, "serve", "--model", local, "--listen", addr)
	want := completion(t, addr, "hf")
	p.stop(t)

	weights := testhub.CDNPath(hubRepo, "model.safetensors")
	for start := 1; start <= 2; start++ {
		addr := freeAddr(t)
		p := startGraftEnv(t, addr, env, "serve", "--model", "hf://"+hubRepo, "--listen", addr)
		if got := completion(t, addr, hubRepo); got != want {
			t.Fatalf("start %d: hf:// model answered %q, the local folder %q", start, got, want)
		}
		p.stop(t)
		if n := h.Count("GET", weights); n != 1 {
			t.Fatalf("after start %d the server saw %d weight downloads, want 1", start, n)
		}
	}
	if _, err := os.Stat(filepath.Join(cache, "graft-ai--stories260K", "snapshots", testhub.Commit, "model.safetensors")); err != nil {
		t.Fatalf("GRAFT_MODEL_CACHE was not used: %v", err)
	}

	for _, c := range []struct{ id, says string }{
		{"hf://graft-ai/liar", "model.safetensors: download failed verification"},
		{"hf://graft-ai/missing", "not found"},
	} {
		r := graft(t, env, "serve", "--model", c.id, "--listen", freeAddr(t))
		if r.code == 0 || !strings.Contains(r.stderr, c.id+"@main") || !strings.Contains(r.stderr, c.says) {
			t.Errorf("serve %s: exit %d, stderr %q; want non-zero naming the model and %q", c.id, r.code, lastLines(r.stderr, 3), c.says)
		}
		t.Logf("serve %s: %s", c.id, lastLines(r.stderr, 1))
		if strings.Contains(r.stderr, "panic") {
			t.Errorf("serve %s crashed:\n%s", c.id, r.stderr)
		}
	}
	for _, repo := range []string{"graft-ai--liar", "graft-ai--missing"} {
		des, _ := os.ReadDir(filepath.Join(cache, repo, "snapshots"))
		if len(des) != 0 {
			t.Errorf("%s: %d snapshots left after a failed fetch", repo, len(des))
		}
	}
}

// TestTrainHubBaseModel: a training job whose BaseModel is hf://... trains on
// the fetched model, and the adapter names the repository and the commit as
// PEFT does.
func TestTrainHubBaseModel(t *testing.T) {
	h := testhub.New(t)
	h.AddDir(t, hubRepo, testmodels.Path(t, "stories260K", "hf"))
	dir := t.TempDir()
	data := filepath.Join(dir, "train.jsonl")
	line := `{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Tom ran."}]}` + "\n"
	if err := os.WriteFile(data, []byte(strings.Repeat(line, 4)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "adapter")
	job, _ := json.Marshal(map[string]any{"BaseModel": "hf://" + hubRepo, "TrainFile": data, "OutputDir": out,
		"CheckpointDir": filepath.Join(dir, "ckpt"), "Epochs": 1, "BatchSize": 2})
	cfg := filepath.Join(dir, "job.json")
	if err := os.WriteFile(cfg, job, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"HF_ENDPOINT=" + h.URL, "HF_TOKEN=", "HF_HUB_OFFLINE="}
	events := filepath.Join(dir, "events.jsonl")
	r := graft(t, env, "train", "--config", cfg, "--events", events, "--model-cache", filepath.Join(dir, "models"))
	if r.code != 0 {
		t.Fatalf("graft train exited %d: %s", r.code, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "adapter_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ac struct {
		Base     string `json:"base_model_name_or_path"`
		Revision string `json:"revision"`
	}
	if err := json.Unmarshal(b, &ac); err != nil || ac.Base != hubRepo || ac.Revision != testhub.Commit {
		t.Fatalf("adapter_config base %q revision %q (%v); want %s at %s", ac.Base, ac.Revision, err, hubRepo, testhub.Commit)
	}
	f, err := os.Open(events)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() || !strings.Contains(sc.Text(), "hf://"+hubRepo+"@"+testhub.Commit) {
		t.Fatalf("first event %q does not name the pinned base model", sc.Text())
	}

	// Again, with the cache from the environment as a Kubernetes training pod
	// has it: the same pinned base, so the checkpoint is the job's own.
	models2 := filepath.Join(dir, "models2")
	r = graft(t, append(env, "GRAFT_MODEL_CACHE="+models2), "train", "--config", cfg)
	if r.code != 0 {
		t.Fatalf("rerun exited %d: %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(models2, "graft-ai--stories260K", "snapshots", testhub.Commit)); err != nil {
		t.Fatalf("GRAFT_MODEL_CACHE was not used: %v", err)
	}
	job, _ = json.Marshal(map[string]any{"BaseModel": "hf://graft-ai/missing", "TrainFile": data, "OutputDir": out})
	os.WriteFile(cfg, job, 0o644)
	r = graft(t, env, "train", "--config", cfg, "--model-cache", filepath.Join(dir, "models"))
	if r.code != 2 || !strings.Contains(r.stderr, "hf://graft-ai/missing@main") {
		t.Fatalf("missing base model: exit %d, stderr %q; want 2 naming it", r.code, r.stderr)
	}
}
