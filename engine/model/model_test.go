package model

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/compute/cpu"
	"github.com/graft-ai/graft/engine/gguf"
	"github.com/graft-ai/graft/engine/kernel"
	"github.com/graft-ai/graft/engine/safetensors"
	"github.com/graft-ai/graft/internal/testmodels"
)

type golden struct {
	Upstream struct {
		Greedy struct {
			IDs []int32 `json:"ids"`
		} `json:"greedy"`
	} `json:"upstream"`
	Reference struct {
		Runs []struct {
			Adapter   *string  `json:"adapter"`
			Prompt    string   `json:"prompt"`
			PromptIDs []int32  `json:"prompt_ids"`
			Greedy    []int32  `json:"greedy_ids"`
			Top5      [][2]any `json:"top5_first"`
		} `json:"runs"`
	} `json:"reference"`
}

func readGolden(t *testing.T) *golden {
	t.Helper()
	data, err := os.ReadFile(testmodels.Path(t, "stories260K", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return &g
}

func openStoriesGGUF(t *testing.T, b compute.Backend) *Model {
	t.Helper()
	f, err := gguf.Open(testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m, err := LoadGGUF(f, b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// greedy decodes one sequence token by token through the paged cache.
func greedy(t *testing.T, m *Model, prompt []int32, steps int) []int32 {
	t.Helper()
	const bs = 16
	total := len(prompt) + steps
	blocks := (total + bs - 1) / bs
	cache := m.NewKVCache(blocks+1, bs)
	table := make([]int32, blocks)
	for i := range table {
		table[i] = int32(blocks - i) // deliberately not in order: paging must not matter
	}
	ws := m.NewWorkspace(len(prompt), 1, 0)
	tokens := append([]int32(nil), prompt...)
	var out []int32
	pos := 0
	for len(out) < steps {
		chunk := tokens[pos:]
		bt := &Batch{Tokens: chunk, Outputs: []int32{int32(len(chunk) - 1)}}
		for i := range chunk {
			p := pos + i
			bt.Attn.Positions = append(bt.Attn.Positions, int32(p))
			bt.Attn.Seq = append(bt.Attn.Seq, 0)
			bt.Attn.Slots = append(bt.Attn.Slots, table[p/bs]*bs+int32(p%bs))
		}
		bt.Attn.Tables = [][]int32{table}
		logits, err := m.Forward(ws, cache, bt)
		if err != nil {
			t.Fatal(err)
		}
		next := int32(kernel.MaxIndex(logits))
		pos = len(tokens)
		tokens = append(tokens, next)
		out = append(out, next)
	}
	return out
}

func TestStoriesGGUFGreedyMatchesUpstream(t *testing.T) {
	g := readGolden(t)
	b := cpu.New(0)
	defer b.Close()
	m := openStoriesGGUF(t, b)
	want := g.Upstream.Greedy.IDs
	got := greedy(t, m, []int32{1}, len(want))
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("token %d: got %d, want %d (first %d agree)", i, got[i], want[i], i)
		}
	}
}

func openStoriesHF(t *testing.T, b compute.Backend) *Model {
	t.Helper()
	dir := testmodels.Path(t, "stories260K", "hf")
	st, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m, err := LoadHF(dir, st, b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestStoriesHFGreedyMatchesUpstream(t *testing.T) {
	g := readGolden(t)
	b := cpu.New(0)
	defer b.Close()
	m := openStoriesHF(t, b)
	want := g.Upstream.Greedy.IDs
	got := greedy(t, m, []int32{1}, len(want))
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("token %d: got %d, want %d (first %d agree)", i, got[i], want[i], i)
		}
	}
}

// TestStoriesBaseRuns checks the base-model reference runs: greedy ids from BOS and
// from a prompt, and the top-5 logits of the first step within 1e-3.
func TestStoriesBaseRuns(t *testing.T) {
	g := readGolden(t)
	b := cpu.New(0)
	defer b.Close()
	for name, m := range map[string]*Model{"gguf": openStoriesGGUF(t, b), "hf": openStoriesHF(t, b)} {
		for _, run := range g.Reference.Runs {
			if run.Adapter != nil {
				continue
			}
			got := greedy(t, m, run.PromptIDs, len(run.Greedy))
			if !slices.Equal(got, run.Greedy) {
				t.Errorf("%s prompt %q: got %v, want %v", name, run.Prompt, got, run.Greedy)
			}
			logits := firstLogits(t, m, run.PromptIDs)
			for _, pair := range run.Top5 {
				id, want := int(pair[0].(float64)), pair[1].(float64)
				if d := math.Abs(float64(logits[id]) - want); d > 1e-3 {
					t.Errorf("%s prompt %q: logit[%d] = %v, want %v", name, run.Prompt, id, logits[id], want)
				}
			}
		}
	}
}

func firstLogits(t *testing.T, m *Model, prompt []int32) []float32 {
	t.Helper()
	cache := m.NewKVCache(len(prompt)/16+1, 16)
	ws := m.NewWorkspace(len(prompt), 1, 0)
	bt := &Batch{Tokens: prompt, Outputs: []int32{int32(len(prompt) - 1)}}
	for p := range prompt {
		bt.Attn.Positions = append(bt.Attn.Positions, int32(p))
		bt.Attn.Seq = append(bt.Attn.Seq, 0)
		bt.Attn.Slots = append(bt.Attn.Slots, int32(p))
	}
	bt.Attn.Tables = [][]int32{make([]int32, len(prompt)/16+1)}
	for i := range bt.Attn.Tables[0] {
		bt.Attn.Tables[0][i] = int32(i)
	}
	logits, err := m.Forward(ws, cache, bt)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), logits...)
}
