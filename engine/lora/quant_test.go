package lora_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/graft-ai/graft/engine/compute/cpu"
	"github.com/graft-ai/graft/engine/gguf"
	"github.com/graft-ai/graft/engine/lora"
	"github.com/graft-ai/graft/engine/randmodel"
)

// quantLoRARelRMS bounds the logits' RMS difference, relative to their RMS,
// between a Q8_0 base with runtime LoRA and float32 merged weights of the
// dequantized base: the base matmuls quantize activations to 8 bits per
// 32-value block (about 0.5% RMS per value, as for Q8_0 weights, which
// compounds to about 2% of the logits' RMS on such a model) while the adapter
// math stays float32. 1.5 times that is allowed.
const quantLoRARelRMS = 0.03

// TestLoRAOnQuantizedBase: adapters applied at run time to a Q8_0 base (kept
// in Q8_0) give the logits of the float32 model whose weights are the
// dequantized base plus scale·B@A, within the activation rounding; base rows
// of the same batch are bit-identical to the base model run without adapters.
func TestLoRAOnQuantizedBase(t *testing.T) {
	dir := t.TempDir()
	w := mergeBase.Weights()
	// The dequantized base: Q8_0 blocks lie within rows, so GGUF's q/k row
	// order does not change them.
	deq := make(map[string][]float32, len(w))
	for _, ti := range mergeBase.Tensors() {
		v := w[ti.Name]
		deq[ti.Name] = v
		if len(ti.Shape) == 2 { // matrices are Q8_0 in the file, norms F32
			raw := make([]byte, len(v)/gguf.Q8_0BlockSize*gguf.Q8_0BlockBytes)
			gguf.QuantizeQ8_0(raw, v)
			deq[ti.Name] = make([]float32, len(v))
			gguf.DequantizeQ8_0(deq[ti.Name], raw)
		}
	}
	basePath := filepath.Join(dir, "base-q8_0.gguf")
	if err := randmodel.WriteGGUFWeights(basePath, mergeBase, w, "Q8_0"); err != nil {
		t.Fatal(err)
	}
	names := []string{"plain", "patterns"}
	var mergedPaths []string
	for _, name := range names {
		a := mergeCases[name]
		if err := randmodel.WriteAdapter(filepath.Join(dir, "adapters", name), mergeBase, a); err != nil {
			t.Fatal(err)
		}
		mods, err := randmodel.AdapterWeights(mergeBase, a)
		if err != nil {
			t.Fatal(err)
		}
		mergedPaths = append(mergedPaths, writeMerged(t, dir, "gguf", name, deq, mods))
	}
	base := loadModel(t, basePath)
	if typ := base.Layers[0].Q.W.(*cpu.Matrix).Stored(); typ != gguf.TypeQ8_0 {
		t.Fatalf("the base's q projection is kept as %s, want Q8_0", typ)
	}
	slots := base.NewAdapterSlots(len(names), 64)
	for i, name := range names {
		a, err := lora.Load(filepath.Join(dir, "adapters", name), &base.Config, 64)
		if err != nil {
			t.Fatal(err)
		}
		if err := slots.Set(i, a.Weights); err != nil {
			t.Fatal(err)
		}
	}
	lens := []int{5, 19, 11, 23, 2, 17}
	seqSlots := []int32{-1, 0, 1, -1, 0, 1}
	got := forwardSeqs(t, base, slots, lens, seqSlots)
	plain := forwardSeqs(t, base, nil, lens, seqSlots)
	for s, slot := range seqSlots {
		if slot < 0 {
			for r := range got[s] {
				if d := maxDiff(got[s][r], plain[s][r]); d != 0 {
					t.Errorf("sequence %d (base) row %d: differs by %g from the base run alone", s, r, d)
				}
			}
			continue
		}
		want := forwardSeqs(t, loadModel(t, mergedPaths[slot]), nil, lens, seqSlots)[s]
		var diff, norm, moved float64
		for r := range got[s] {
			for i := range got[s][r] {
				g, m := float64(got[s][r][i]), float64(want[r][i])
				diff += (g - m) * (g - m)
				norm += m * m
			}
			moved = max(moved, maxDiff(plain[s][r], want[r]))
		}
		rel := math.Sqrt(diff / norm)
		if rel > quantLoRARelRMS {
			t.Errorf("sequence %d (%s): logits differ from the merged float32 model by %.3g of their RMS (bound %g)", s, names[slot], rel, quantLoRARelRMS)
		}
		// The adapter must move the logits far beyond that difference.
		worst := 0.0
		for r := range got[s] {
			worst = max(worst, maxDiff(got[s][r], want[r]))
		}
		if moved < 10*worst {
			t.Errorf("sequence %d (%s): the adapter moves logits by %.3g, the error is %.3g", s, names[slot], moved, worst)
		}
		t.Logf("sequence %d (%s): RMS difference %.3g, max %.3g; the adapter moves logits by up to %.3g", s, names[slot], rel, worst, moved)
	}
}
