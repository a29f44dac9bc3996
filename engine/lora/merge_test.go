package lora_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/compute/cpu"
	"github.com/graft-ai/graft/engine/lora"
	"github.com/graft-ai/graft/engine/model"
	"github.com/graft-ai/graft/engine/randmodel"
)

// mergeTol bounds |runtime LoRA logit - merged-weights logit|. Both are float32
// forwards of the same function; they differ only in summation order and in
// rounding W+scale·B@A to float32, about 1e-6 of the logits' scale.
const mergeTol = 1e-4

// mergeBase is small but has every shape that can go wrong: GQA (k/v narrower
// than q), FFN wider than dim, an untied head, two layers. InitStd 1/sqrt(dim)
// gives logits of order 1, so the tolerance is meaningful.
var mergeBase = randmodel.Spec{Arch: randmodel.Llama, Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, FFN: 160,
	Vocab: 300, MaxPositions: 128, Seed: 11, InitStd: 0.125}

var mergeCases = map[string]randmodel.AdapterSpec{
	"plain":  {Rank: 8, Alpha: 16, Targets: randmodel.AdapterModules, Seed: 1},
	"rslora": {Rank: 4, Alpha: 8, RSLoRA: true, Targets: []string{"q_proj", "v_proj", "o_proj"}, Seed: 2},
	"patterns": {Rank: 8, Alpha: 16, Targets: randmodel.AdapterModules, Seed: 3,
		RankPattern:  map[string]int{"q_proj": 4, "layers.1.mlp.down_proj": 2, "k_proj": 12},
		AlphaPattern: map[string]float64{"v_proj": 3, "layers.0.mlp.gate_proj": 40}},
	"regex":  {Rank: 6, Alpha: 6, TargetRegex: `model\.layers\.1\.self_attn\.(k|o)_proj|.*\.0\.mlp\.(up|down)_proj`, Seed: 4},
	"subset": {Rank: 16, Alpha: 8, Targets: []string{"v_proj", "down_proj"}, Seed: 5},
	// saved in bfloat16: the CPU backend keeps it narrow (LoRAMatrixBF16)
	"bf16": {Rank: 8, Alpha: 16, Targets: randmodel.AdapterModules, Seed: 6, BF16: true},
}

// TestRuntimeLoRAMatchesMergedWeights: each adapter applied at run time gives
// the logits of a model whose weights are W + scale·B@A, for every prompt
// position and a decode step, on HF and GGUF bases, while base rows in the same
// batch keep the base model's logits.
func TestRuntimeLoRAMatchesMergedWeights(t *testing.T) {
	dir := t.TempDir()
	w := mergeBase.Weights()
	for name, a := range mergeCases {
		if err := randmodel.WriteAdapter(filepath.Join(dir, "adapters", name), mergeBase, a); err != nil {
			t.Fatal(err)
		}
	}
	for _, format := range []string{"hf", "gguf"} {
		basePath := writeMerged(t, dir, format, "base", w, nil)
		for name, a := range mergeCases {
			t.Run(format+"/"+name, func(t *testing.T) {
				mods, err := randmodel.AdapterWeights(mergeBase, a)
				if err != nil {
					t.Fatal(err)
				}
				merged := writeMerged(t, dir, format, name, w, mods)
				compareMerged(t, basePath, filepath.Join(dir, "adapters"), []string{name}, []string{merged})
			})
		}
	}
}

// TestTwoAdaptersAndBaseInOneBatch: rows of two adapters and of the base model,
// interleaved, each match their own merged model.
func TestTwoAdaptersAndBaseInOneBatch(t *testing.T) {
	dir := t.TempDir()
	w := mergeBase.Weights()
	names := []string{"plain", "patterns"}
	var merged []string
	for _, name := range names {
		a := mergeCases[name]
		if err := randmodel.WriteAdapter(filepath.Join(dir, "adapters", name), mergeBase, a); err != nil {
			t.Fatal(err)
		}
		mods, err := randmodel.AdapterWeights(mergeBase, a)
		if err != nil {
			t.Fatal(err)
		}
		merged = append(merged, writeMerged(t, dir, "gguf", name, w, mods))
	}
	compareMerged(t, writeMerged(t, dir, "gguf", "base", w, nil), filepath.Join(dir, "adapters"), names, merged)
}

// writeMerged writes the base weights with each module's delta merged in
// float64 and rounded once to float32.
func writeMerged(t *testing.T, dir, format, name string, w map[string][]float32, mods map[string]randmodel.AdapterModule) string {
	t.Helper()
	out := make(map[string][]float32, len(w))
	for k, v := range w {
		out[k] = v
	}
	for mod, m := range mods {
		base := w[mod+".weight"]
		if len(base) != m.Out*m.In {
			t.Fatalf("%s: base has %d values, adapter %dx%d", mod, len(base), m.Out, m.In)
		}
		dst := make([]float32, len(base))
		for o := range m.Out {
			for i := range m.In {
				var d float64
				for k := range m.Rank {
					d += float64(m.B[o*m.Rank+k]) * float64(m.A[k*m.In+i])
				}
				dst[o*m.In+i] = float32(float64(base[o*m.In+i]) + m.Scale*d)
			}
		}
		out[mod+".weight"] = dst
	}
	path := filepath.Join(dir, format+"-"+name)
	var err error
	if format == "gguf" {
		path += ".gguf"
		err = randmodel.WriteGGUFWeights(path, mergeBase, out, "F32")
	} else {
		err = randmodel.WriteHFWeights(path, mergeBase, out, "F32", 1)
	}
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func loadModel(t *testing.T, path string) *model.Model {
	t.Helper()
	b := cpu.New(1)
	t.Cleanup(b.Close)
	l, err := engine.Load(path, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Model
}

// compareMerged runs sequences alternating between the base model and each
// adapter through the base model with runtime LoRA, and checks every row
// against the same batch on the matching merged model (or the base).
func compareMerged(t *testing.T, basePath, adapterDir string, names, mergedPaths []string) {
	t.Helper()
	base := loadModel(t, basePath)
	slots := base.NewAdapterSlots(len(names), 64)
	for i, name := range names {
		a, err := lora.Load(filepath.Join(adapterDir, name), &base.Config, 64)
		if err != nil {
			t.Fatal(err)
		}
		if err := slots.Set(i, a.Weights); err != nil {
			t.Fatal(err)
		}
	}
	// Prompt lengths cross the 16-row segment split; slots interleave so that
	// decode rows change adapter at every row.
	lens := []int{5, 19, 11, 23, 2, 17, 8, 13, 1}
	seqSlots := make([]int32, len(lens))
	for i := range lens {
		seqSlots[i] = int32(i%(len(names)+1)) - 1
	}
	got := forwardSeqs(t, base, slots, lens, seqSlots)
	plain := forwardSeqs(t, base, nil, lens, seqSlots)
	want := [][][][]float32{plain}
	for _, p := range mergedPaths {
		want = append(want, forwardSeqs(t, loadModel(t, p), nil, lens, seqSlots))
	}
	for s, slot := range seqSlots {
		label := "base"
		if slot >= 0 {
			label = names[slot]
		}
		worst, moved := 0.0, 0.0
		for r := range got[s] {
			worst = max(worst, maxDiff(got[s][r], want[slot+1][s][r]))
			moved = max(moved, maxDiff(plain[s][r], want[slot+1][s][r]))
		}
		if worst > mergeTol {
			t.Errorf("sequence %d (%s): runtime LoRA logits differ from merged weights by %.3g (tolerance %g)", s, label, worst, mergeTol)
		}
		// The adapter must move the logits far beyond the tolerance, or the
		// comparison above proves nothing.
		if slot >= 0 && moved < 100*mergeTol {
			t.Errorf("sequence %d (%s): the adapter moves logits by only %.3g", s, label, moved)
		}
	}
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// forwardSeqs prefills every sequence in one batch, then decodes one token for
// each in a second batch, and returns each sequence's logits per row.
func forwardSeqs(t *testing.T, m *model.Model, slots *model.AdapterSlots, lens []int, seqSlots []int32) [][][]float32 {
	t.Helper()
	const bs = 16
	perSeq := 0
	total := 0
	for _, n := range lens {
		perSeq = max(perSeq, (n+1+bs-1)/bs)
		total += n
	}
	cache := m.NewKVCache(perSeq*len(lens), bs)
	tables := make([][]int32, len(lens))
	for s := range tables {
		for b := range perSeq {
			tables[s] = append(tables[s], int32(s*perSeq+b))
		}
	}
	rank := 0
	if slots != nil {
		rank = 64
	}
	ws := m.NewWorkspace(total, total, rank)
	out := make([][][]float32, len(lens))
	step := func(seqTokens [][]int32, start []int) {
		bt := &model.Batch{Slots: slots}
		bt.Attn.Tables = tables
		for s, toks := range seqTokens {
			for i, tok := range toks {
				p := start[s] + i
				bt.Tokens = append(bt.Tokens, tok)
				bt.Attn.Positions = append(bt.Attn.Positions, int32(p))
				bt.Attn.Seq = append(bt.Attn.Seq, int32(s))
				bt.Attn.Slots = append(bt.Attn.Slots, tables[s][p/bs]*bs+int32(p%bs))
				bt.Outputs = append(bt.Outputs, int32(len(bt.Outputs)))
				if slots != nil {
					bt.Adapters = append(bt.Adapters, seqSlots[s])
				}
			}
		}
		logits, err := m.Forward(ws, cache, bt)
		if err != nil {
			t.Fatal(err)
		}
		v, row := m.Config.Vocab, 0
		for s, toks := range seqTokens {
			for range toks {
				out[s] = append(out[s], append([]float32(nil), logits[row*v:(row+1)*v]...))
				row++
			}
		}
	}
	prompts := make([][]int32, len(lens))
	next := make([][]int32, len(lens))
	zero, ends := make([]int, len(lens)), make([]int, len(lens))
	for s, n := range lens {
		for i := range n {
			prompts[s] = append(prompts[s], int32((s*31+i*7)%(m.Config.Vocab-3)+3))
		}
		next[s], ends[s] = []int32{int32(s + 3)}, n
	}
	step(prompts, zero)
	step(next, ends)
	return out
}
