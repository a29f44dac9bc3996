package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ai/graft/engine/train"
	"github.com/graft-ai/graft/internal/testmodels"
)

// TestTrainCommand: a job file trains stories260K, one event per JSON line
// lands in --events and the PEFT folder appears; bad jobs exit 2 naming the
// problem.
func TestTrainCommand(t *testing.T) {
	base := testmodels.Path(t, "stories260K", "hf")
	dir := t.TempDir()
	data := filepath.Join(dir, "train.jsonl")
	var lines []string
	for range 8 {
		lines = append(lines, `{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Tom ran."}]}`)
	}
	if err := os.WriteFile(data, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	job := func(name string, cfg map[string]any) string {
		p := filepath.Join(dir, name)
		js, _ := json.Marshal(cfg)
		if err := os.WriteFile(p, js, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	out := filepath.Join(dir, "adapter")
	good := job("good.json", map[string]any{"BaseModel": base, "TrainFile": data, "OutputDir": out, "Epochs": 1, "BatchSize": 2})
	events := filepath.Join(dir, "events.jsonl")
	if r := graft(t, nil, "train", "--config", good, "--events", events); r.code != 0 {
		t.Fatalf("graft train exited %d: %s", r.code, r.stderr)
	}
	f, err := os.Open(events)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	steps := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var e train.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("event line %q: %v", sc.Text(), err)
		}
		if e.Step > 0 && e.Message == "" {
			steps++
		}
	}
	if steps != 4 {
		t.Errorf("%d step events, want 4", steps)
	}
	for _, name := range []string{"adapter_config.json", "adapter_model.safetensors"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"messages": [{"role": "user", "content": "Hi"}]}`+"\n"+`{"prompt": 1}`+"\n"), 0o644)
	for _, c := range []struct {
		cfg  map[string]any
		says string
	}{
		{map[string]any{"BaseModel": base, "TrainFile": data, "OutputDir": out, "Rank": -1}, "Rank -1"},
		{map[string]any{"BaseModel": base, "TrainFile": data, "OutputDir": out, "Epoch": 1}, `unknown field "Epoch"`},
		{map[string]any{"BaseModel": base, "TrainFile": bad, "OutputDir": out}, "line 2"},
		{map[string]any{"BaseModel": filepath.Join(dir, "nowhere"), "TrainFile": data, "OutputDir": out}, "nowhere"},
	} {
		r := graft(t, nil, "train", "--config", job("bad.json", c.cfg))
		if r.code != 2 || !strings.Contains(r.stderr, c.says) {
			t.Errorf("job %v: exit %d, stderr %q; want 2 saying %q", c.cfg, r.code, r.stderr, c.says)
		}
	}
}
