package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/compute/cpu"
	"github.com/graft-ai/graft/engine/lora"
	sampling "github.com/graft-ai/graft/engine/sample"
	"github.com/graft-ai/graft/internal/testmodels"
)

func storiesDir(t testing.TB) string {
	return testmodels.Path(t, "stories260K", "hf")
}

// writeJSONL writes one JSON object per line.
func writeJSONL(t testing.TB, path string, rows []any) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
}

// styleData teaches one fixed answer, in both formats.
func styleData(t testing.TB, dir string, chat bool) string {
	var rows []any
	for i := range 12 {
		if !chat {
			rows = append(rows, map[string]any{"prompt": fmt.Sprintf("Story %d:", i), "completion": " Tom ate a red apple."})
			continue
		}
		rows = append(rows, map[string]any{"messages": []map[string]string{
			{"role": "user", "content": fmt.Sprintf("Tell story %d", i)},
			{"role": "assistant", "content": "Tom ate a red apple."}}})
	}
	p := filepath.Join(dir, "train.jsonl")
	writeJSONL(t, p, rows)
	return p
}

func testConfig(t testing.TB, chat bool) Config {
	dir := t.TempDir()
	return Config{
		BaseModel: storiesDir(t), TrainFile: styleData(t, dir, chat), OutputDir: filepath.Join(dir, "adapter"),
		Epochs: 4, BatchSize: 3, GradAccum: 2, LearningRate: 2e-2, Rank: 4, Alpha: 8,
		TargetModules: []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"},
		Seed:          3, WarmupSteps: 2, Threads: 2,
	}
}

// TestTrainServe trains on stories260K, loads the adapter with engine/lora
// into an engine and checks greedy decoding now gives the taught answer.
func TestTrainServe(t *testing.T) {
	cfg := testConfig(t, false)
	cfg.Epochs = 8
	var evs []Event
	if err := Run(context.Background(), cfg, func(e Event) { evs = append(evs, e) }); err != nil {
		t.Fatal(err)
	}
	var losses []float64
	for _, e := range evs {
		if e.Step > 0 && e.Message == "" {
			losses = append(losses, e.TrainLoss)
		}
	}
	if len(losses) != 16 || losses[len(losses)-1] > losses[0]/4 {
		t.Fatalf("losses per step %v: want 16 steps, the last under a quarter of the first", losses)
	}
	t.Logf("loss: first step %.3f, last %.3f", losses[0], losses[len(losses)-1])

	b := cpu.New(2)
	defer b.Close()
	l, err := engine.Load(cfg.BaseModel, b)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := lora.Load(cfg.OutputDir, &l.Model.Config, 64); err != nil {
		t.Fatalf("engine/lora rejects the trained adapter: %v", err)
	}
	e, err := engine.New(l, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.LoadAdapter("style", cfg.OutputDir); err != nil {
		t.Fatal(err)
	}
	prompt, _ := l.Tokenizer.Encode("Story 9:", true)
	gen := func(adapter string) string {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := e.Generate(ctx, engine.Request{Prompt: prompt, Adapter: adapter, MaxTokens: 12,
			Sampling: sampling.Params{TopP: 1, RepetitionPenalty: 1}})
		if err != nil {
			t.Fatal(err)
		}
		ev := s.Collect(ctx)
		if ev.Err != nil {
			t.Fatal(ev.Err)
		}
		var ids []int32
		for _, tok := range ev.Tokens {
			ids = append(ids, tok.ID)
		}
		text, _ := l.Tokenizer.Decode(ids, true)
		return text
	}
	base, tuned := gen(""), gen("style")
	t.Logf("base: %q; adapter: %q", base, tuned)
	if tuned != "Tom ate a red apple." {
		t.Fatalf("served adapter answers %q, want the taught %q", tuned, "Tom ate a red apple.")
	}
}

// TestCancelWritesNoAdapter: a cancelled run returns promptly with the
// context's error and leaves no adapter.
func TestCancelWritesNoAdapter(t *testing.T) {
	cfg := testConfig(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	err := Run(ctx, cfg, func(e Event) {
		if e.Step == 2 && e.Message == "" {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel: %v, want context.Canceled", err)
	}
	if _, err := os.Stat(cfg.OutputDir); !os.IsNotExist(err) {
		t.Fatalf("adapter folder after cancel: %v, want none", err)
	}
}

// TestResumeIsExact: a run stopped after a checkpoint and started again ends
// with the same adapter, bit for bit, as an uninterrupted run (dropout on, so
// the generator's state must come back too).
func TestResumeIsExact(t *testing.T) {
	cfg := testConfig(t, true)
	cfg.Dropout, cfg.CheckpointEvery = 0.1, 3
	straight := cfg
	straight.OutputDir = cfg.OutputDir + "-straight"
	if err := Run(context.Background(), straight, nil); err != nil {
		t.Fatal(err)
	}
	cfg.CheckpointDir = filepath.Join(t.TempDir(), "ckpt")
	ctx, cancel := context.WithCancel(context.Background())
	if err := Run(ctx, cfg, func(e Event) {
		if e.Step == 4 && e.Message == "" {
			cancel()
		}
	}); !errors.Is(err, context.Canceled) {
		t.Fatalf("first leg: %v", err)
	}
	var resumed string
	if err := Run(context.Background(), cfg, func(e Event) {
		if e.Step > 0 && e.Message != "" && resumed == "" {
			resumed = e.Message
		}
	}); err != nil {
		t.Fatal(err)
	}
	if resumed != "resumed from the checkpoint of step 3" {
		t.Fatalf("second leg said %q, want a resume from step 3", resumed)
	}
	a, _ := os.ReadFile(filepath.Join(straight.OutputDir, "adapter_model.safetensors"))
	b, _ := os.ReadFile(filepath.Join(cfg.OutputDir, "adapter_model.safetensors"))
	if len(a) == 0 || !slices.Equal(a, b) {
		t.Fatal("the resumed run's adapter differs from the uninterrupted run's")
	}
}

// TestGGUFBaseAndValidation trains on the GGUF file of stories260K (its
// interleaved q/k rows become Hugging Face's order on load, so the adapter is
// in PEFT's layout) and reports a validation loss at each epoch's end.
func TestGGUFBaseAndValidation(t *testing.T) {
	cfg := testConfig(t, true)
	cfg.BaseModel = testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf")
	cfg.ValidFile, cfg.Epochs = cfg.TrainFile, 2
	var valid []float64
	var at []int
	if err := Run(context.Background(), cfg, func(e Event) {
		if e.ValidLoss != nil {
			valid, at = append(valid, *e.ValidLoss), append(at, e.Step)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(at, []int{2, 4}) || valid[1] >= valid[0] {
		t.Fatalf("validation losses %v at steps %v; want two, at steps 2 and 4, falling", valid, at)
	}
	l, err := engine.Load(storiesDir(t), hostBackend{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := lora.Load(cfg.OutputDir, &l.Model.Config, 64); err != nil {
		t.Fatal(err)
	}
}
