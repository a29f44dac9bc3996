package cuda_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/graft-ai/graft/engine/compute/cuda"
	"github.com/graft-ai/graft/engine/gguf"
	"github.com/graft-ai/graft/engine/kernel"
	"github.com/graft-ai/graft/engine/lora"
	"github.com/graft-ai/graft/engine/model"
	"github.com/graft-ai/graft/internal/testmodels"
)

func openGPU(t *testing.T, weights, kv cuda.DType) *cuda.Backend {
	t.Helper()
	b, err := cuda.OpenWith(cuda.Options{Weights: weights, KV: kv})
	if err != nil {
		if os.Getenv("GRAFT_CUDA") == "1" {
			t.Fatalf("GRAFT_CUDA=1 but %v", err)
		}
		t.Skipf("%v (set GRAFT_CUDA=1 on a GPU machine to run)", err)
	}
	t.Cleanup(b.Close)
	return b
}

type goldenRun struct {
	Adapter   *string `json:"adapter"`
	PromptIDs []int32 `json:"prompt_ids"`
	Greedy    []int32 `json:"greedy_ids"`
}

type golden struct {
	Upstream struct {
		Greedy struct {
			IDs []int32 `json:"ids"`
		} `json:"greedy"`
	} `json:"upstream"`
	Reference struct {
		Runs []goldenRun `json:"runs"`
	} `json:"reference"`
}

func readGolden(t *testing.T) *golden {
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

func loadStories(t *testing.T, b *cuda.Backend) *model.Model {
	f, err := gguf.Open(testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m, err := model.LoadGGUF(f, b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// stream is one sequence being decoded: prompt then greedy tokens, its own
// block table and adapter slot (-1 for the base model).
type stream struct {
	tokens []int32
	done   int // tokens already in the cache
	out    []int32
	table  []int32
	slot   int32
}

const blockSize = 16

// decode runs streams together, step by step (a prefill for new streams and
// a decode for the rest in the same batch), until each has steps tokens.
func decode(t *testing.T, m *model.Model, slots *model.AdapterSlots, streams []*stream, steps int) {
	maxLen := 0
	for _, s := range streams {
		maxLen = max(maxLen, len(s.tokens)+steps)
	}
	perSeq := (maxLen + blockSize - 1) / blockSize
	cache := m.NewKVCache(perSeq*len(streams)+1, blockSize)
	for i, s := range streams {
		s.table = make([]int32, perSeq)
		for j := range s.table {
			s.table[j] = int32((i+1)*perSeq - j) // reversed, interleaved: paging must not matter
		}
	}
	tokens := 0
	for _, s := range streams {
		tokens += len(s.tokens)
	}
	maxRank := 0
	if slots != nil {
		maxRank = 16
	}
	ws := m.NewWorkspace(tokens, len(streams), maxRank)
	for step := 0; step < steps; step++ {
		bt := &model.Batch{Slots: slots}
		for i, s := range streams {
			for p := s.done; p < len(s.tokens); p++ {
				bt.Tokens = append(bt.Tokens, s.tokens[p])
				bt.Attn.Positions = append(bt.Attn.Positions, int32(p))
				bt.Attn.Seq = append(bt.Attn.Seq, int32(i))
				bt.Attn.Slots = append(bt.Attn.Slots, s.table[p/blockSize]*blockSize+int32(p%blockSize))
				bt.Adapters = append(bt.Adapters, s.slot)
			}
			bt.Outputs = append(bt.Outputs, int32(len(bt.Tokens)-1))
			bt.Attn.Tables = append(bt.Attn.Tables, s.table)
		}
		if slots == nil {
			bt.Adapters = nil
		}
		logits, err := m.Forward(ws, cache, bt)
		if err != nil {
			t.Fatal(err)
		}
		v := m.Config.Vocab
		for i, s := range streams {
			next := int32(kernel.MaxIndex(logits[i*v : (i+1)*v]))
			s.done = len(s.tokens)
			s.tokens = append(s.tokens, next)
			s.out = append(s.out, next)
		}
	}
}

// TestDeviceStoriesGolden: stories260K with F32 weights and KV cache on the GPU
// gives llama2.c's 256 greedy ids from BOS, and the reference runs' ids (base
// and each adapter) exactly.
func TestDeviceStoriesGolden(t *testing.T) {
	g := readGolden(t)
	b := openGPU(t, cuda.F32, cuda.F32)
	m := loadStories(t, b)
	s := &stream{tokens: []int32{1}, slot: -1}
	decode(t, m, nil, []*stream{s}, len(g.Upstream.Greedy.IDs))
	if !slices.Equal(s.out, g.Upstream.Greedy.IDs) {
		t.Fatalf("greedy from BOS: got %v, want %v", s.out, g.Upstream.Greedy.IDs)
	}
	slots, names := loadAdapters(t, m)
	for _, run := range g.Reference.Runs {
		slot := int32(-1)
		if run.Adapter != nil {
			slot = int32(slices.Index(names, filepath.Base(*run.Adapter)))
			if slot < 0 {
				t.Fatalf("golden adapter %q not among %v", *run.Adapter, names)
			}
		}
		s := &stream{tokens: slices.Clone(run.PromptIDs), slot: slot}
		decode(t, m, slots, []*stream{s}, len(run.Greedy))
		if !slices.Equal(s.out, run.Greedy) {
			t.Errorf("adapter %v prompt %v: got %v, want %v", run.Adapter, run.PromptIDs, s.out, run.Greedy)
		}
	}
}

func loadAdapters(t *testing.T, m *model.Model) (*model.AdapterSlots, []string) {
	dir := testmodels.Path(t, "stories260K", "adapters")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	slots := m.NewAdapterSlots(len(entries), 16)
	var names []string
	for i, e := range entries {
		a, err := lora.Load(filepath.Join(dir, e.Name()), &m.Config, 16)
		if err != nil {
			t.Fatal(err)
		}
		if err := slots.Set(i, a.Weights); err != nil {
			t.Fatal(err)
		}
		names = append(names, e.Name())
	}
	return slots, names
}

// TestDeviceMixedAdaptersEqualAlone: base + 4 adapters decoded in one batch
// (BF16 weights and cache) give each stream bitwise the tokens it gets alone.
func TestDeviceMixedAdaptersEqualAlone(t *testing.T) {
	b := openGPU(t, cuda.BF16, cuda.BF16)
	m := loadStories(t, b)
	slots, names := loadAdapters(t, m)
	prompts := [][]int32{{1, 403, 407}, {1, 261}, {1, 378, 432, 383, 286}, {1}, {1, 376, 298, 315}}
	var mixed []*stream
	for i, p := range prompts {
		mixed = append(mixed, &stream{tokens: slices.Clone(p), slot: int32(i - 1)})
	}
	decode(t, m, slots, mixed, 48)
	for i, p := range prompts {
		alone := &stream{tokens: slices.Clone(p), slot: int32(i - 1)}
		decode(t, m, slots, []*stream{alone}, 48)
		if !slices.Equal(alone.out, mixed[i].out) {
			name := "base"
			if i > 0 {
				name = names[i-1]
			}
			t.Errorf("%s: alone %v, in the mixed batch %v", name, alone.out, mixed[i].out)
		}
	}
}

// TestDeviceNoLeak: 1,000 decode steps of 64 streams over mixed adapters,
// with adapters swapped in and out of slots, leave the pool's in-use and
// reserved bytes where they were after the first round.
func TestDeviceNoLeak(t *testing.T) {
	b := openGPU(t, cuda.BF16, cuda.BF16)
	m := loadStories(t, b)
	slots, _ := loadAdapters(t, m)
	dir := testmodels.Path(t, "stories260K", "adapters")
	entries, _ := os.ReadDir(dir)
	round := func(r int) {
		// Swap one slot's adapter for another's, freeing the old matrices.
		e := entries[r%len(entries)]
		a, err := lora.Load(filepath.Join(dir, e.Name()), &m.Config, 16)
		if err != nil {
			t.Fatal(err)
		}
		if err := slots.Set(r%slots.Len(), a.Weights); err != nil {
			t.Fatal(err)
		}
		var streams []*stream
		for i := range 64 {
			streams = append(streams, &stream{tokens: []int32{1, int32(300 + i)}, slot: int32(i%(slots.Len()+1)) - 1})
		}
		decode(t, m, slots, streams, 100)
	}
	settle := func() cuda.PoolStats {
		var s cuda.PoolStats
		for i := 0; i < 50; i++ { // cleanups run after collection, on their own goroutine
			runtime.GC()
			time.Sleep(20 * time.Millisecond)
			if n := b.Stats(); n == s {
				break
			} else {
				s = n
			}
		}
		return s
	}
	round(0)
	before := settle()
	for r := 1; r < 10; r++ { // 9 more rounds: 1,000 steps in all
		round(r)
	}
	after := settle()
	t.Logf("pool before %+v, after %+v", before, after)
	if after.InUse != before.InUse || after.Reserved != before.Reserved {
		t.Fatalf("device memory grew: in use %d -> %d bytes, reserved %d -> %d", before.InUse, after.InUse, before.Reserved, after.Reserved)
	}
}
