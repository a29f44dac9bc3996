package train

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/compute/cpu"
	sampling "github.com/graft-ai/graft/engine/sample"
)

// storyData is 100 stories-style prompt/completion pairs.
func storyData(t testing.TB, path string) {
	names := []string{"Lily", "Tom", "Ben", "Sue", "Max"}
	things := []string{"a red ball", "a big dog", "a little cat", "a blue car", "a tall tree"}
	acts := []string{"play in the park", "eat cake", "run fast", "sing a song"}
	var rows []any
	for i := range 100 {
		n, th, a := names[i%5], things[(i/5)%5], acts[(i/25)%4]
		rows = append(rows, map[string]any{
			"prompt":     fmt.Sprintf("Once upon a time, %s saw %s.", n, th),
			"completion": fmt.Sprintf(" %s wanted to %s. %s was very happy.", n, a, n),
		})
	}
	writeJSONL(t, path, rows)
}

// TestMatchesPEFT trains 50 steps on stories260K and replays the same steps
// (initial A/B, micro-batches, AdamW, schedule, clipping) with Hugging Face
// PEFT + transformers: per-step losses agree within 2e-4 relative, both final
// adapters decode the same greedy tokens, and PEFT loads Graft's adapter and
// decodes them too.
func TestMatchesPEFT(t *testing.T) {
	base := storiesDir(t)
	py, err := PEFTPython()
	if err != nil {
		t.Skipf("PEFT reference not available: %v", err)
	}
	dir := t.TempDir()
	cfg := Config{
		BaseModel: base, TrainFile: filepath.Join(dir, "train.jsonl"), OutputDir: filepath.Join(dir, "graft"),
		Epochs: 2, BatchSize: 2, GradAccum: 2, LearningRate: 5e-3, Rank: 4, Alpha: 8,
		TargetModules: []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"},
		Seed:          11, WarmupSteps: 5, Schedule: "linear", MaxGradNorm: 1, WeightDecay: 0.01, Threads: 2,
	}
	storyData(t, cfg.TrainFile)
	initDir := filepath.Join(dir, "init")
	var steps [][][]refSample
	h := &hooks{
		init: func(ad *adapter[float32]) {
			// PEFT starts from exactly these A (and B = 0).
			if err := writeAdapter(initDir, cfg.withDefaults(), ad); err != nil {
				t.Fatal(err)
			}
		},
		batch: func(_ int, micro [][]sample) {
			var step [][]refSample
			for _, m := range micro {
				step = append(step, refSamples(m))
			}
			steps = append(steps, step)
		},
	}
	var losses []float64
	if err := run(context.Background(), cfg, func(e Event) {
		if e.Step > 0 && e.Message == "" {
			losses = append(losses, e.TrainLoss)
		}
	}, h); err != nil {
		t.Fatal(err)
	}
	if len(losses) != 50 {
		t.Fatalf("%d steps, want 50", len(losses))
	}
	prompts := greedyPrompts(t, base)
	spec := map[string]any{
		"base": base, "init_adapter": initDir, "steps": steps, "lr": cfg.LearningRate,
		"weight_decay": cfg.WeightDecay, "max_grad_norm": cfg.MaxGradNorm, "schedule": cfg.Schedule,
		"warmup": cfg.WarmupSteps, "total_steps": len(steps), "out_adapter": filepath.Join(dir, "peft"),
		"prompts": prompts, "greedy_tokens": 24, "graft_adapter": cfg.OutputDir,
		// One torch thread: on a busy machine OpenMP's spinning threads make a model this
		// small 20× slower with two.
		"threads": 1,
	}
	var ref struct {
		Losses      []float64 `json:"losses"`
		Greedy      [][]int32 `json:"greedy"`
		GraftInPEFT [][]int32 `json:"graft_adapter_greedy"`
	}
	start := time.Now()
	if err := runReference(py, "train", spec, &ref); err != nil {
		t.Fatal(err)
	}
	t.Logf("PEFT replay took %v", time.Since(start).Round(time.Second))
	const tol = 2e-4
	worst := 0.0
	for i, l := range losses {
		rel := math.Abs(l-ref.Losses[i]) / math.Abs(ref.Losses[i])
		worst = math.Max(worst, rel)
		if rel > tol {
			t.Errorf("step %d: loss %.6f, PEFT %.6f (relative difference %.2g > %g)", i+1, l, ref.Losses[i], rel, tol)
		}
	}
	t.Logf("50 steps: loss %.4f → %.4f (PEFT %.4f → %.4f), largest relative difference %.2g",
		losses[0], losses[49], ref.Losses[0], ref.Losses[49], worst)
	ours := graftGreedy(t, base, cfg.OutputDir, prompts, 24)
	for i := range prompts {
		if !slices.Equal(ours[i], ref.Greedy[i]) {
			t.Errorf("prompt %d: Graft's adapter decodes %v, PEFT's %v", i, ours[i], ref.Greedy[i])
		}
		if !slices.Equal(ours[i], ref.GraftInPEFT[i]) {
			t.Errorf("prompt %d: Graft's adapter decodes %v in Graft, %v in PEFT", i, ours[i], ref.GraftInPEFT[i])
		}
	}
}

func greedyPrompts(t testing.TB, base string) [][]int32 {
	l, err := engine.Load(base, hostBackend{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var out [][]int32
	for _, p := range []string{"Once upon a time, Lily saw a big dog.", "Once upon a time, Max saw a blue car.", "Once upon a time"} {
		ids, err := l.Tokenizer.Encode(p, true)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ids)
	}
	return out
}

// graftGreedy serves adapterDir on the engine and decodes n greedy tokens per prompt.
func graftGreedy(t testing.TB, base, adapterDir string, prompts [][]int32, n int) [][]int32 {
	b := cpu.New(2)
	defer b.Close()
	l, err := engine.Load(base, b)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	e, err := engine.New(l, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.LoadAdapter("trained", adapterDir); err != nil {
		t.Fatal(err)
	}
	var out [][]int32
	for _, p := range prompts {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		s, err := e.Generate(ctx, engine.Request{Prompt: p, Adapter: "trained", MaxTokens: n, IgnoreEOS: true,
			Sampling: sampling.Params{TopP: 1, RepetitionPenalty: 1}})
		if err != nil {
			t.Fatal(err)
		}
		ev := s.Collect(ctx)
		cancel()
		if ev.Err != nil {
			t.Fatal(ev.Err)
		}
		var ids []int32
		for _, tok := range ev.Tokens {
			ids = append(ids, tok.ID)
		}
		out = append(out, ids)
	}
	return out
}
