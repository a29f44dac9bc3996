package model

import (
	"testing"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/compute/cpu"
)

// permutingLoad is the CPU backend without its Deinterleave: the field
// shadows the promoted method, so the loader falls back to permuting GGUF's
// q and k rows into a copy, as it does for backends without one.
type permutingLoad struct {
	*cpu.Backend
	Deinterleave struct{}
}

// TestInterleavedQKKeptAsStored: GGUF's q and k matrices are used in the
// file's interleaved row order, their outputs reordered after the matmul,
// which gives the bits of the permuted copy the loader made before, for
// prefill and single-token steps, float and 8-bit activations, every stored
// format.
func TestInterleavedQKKeptAsStored(t *testing.T) {
	s := quantSpec()
	w := s.Weights()
	f32 := writeGGUF(t, s, w, "F32")
	files := map[string]func(t *testing.T) string{
		"F32": func(*testing.T) string { return f32 }, "F16": func(t *testing.T) string { return writeGGUF(t, s, w, "F16") },
		"BF16": func(t *testing.T) string { return writeGGUF(t, s, w, "BF16") }, "Q8_0": func(t *testing.T) string { return writeGGUF(t, s, w, "Q8_0") },
		"Q4_0": func(t *testing.T) string { return llamaQuantize(t, f32, 2) }, "Q4_K_M": func(t *testing.T) string { return llamaQuantize(t, f32, 15) },
	}
	prompt := testPrompt(s.Seed, 24, s.Vocab)
	for name, file := range files {
		for _, act := range cpu.QuantActivationModes {
			t.Run(name+"/"+act, func(t *testing.T) {
				path := file(t)
				kept := openInterleaved(t, path, act, false)
				copied := openInterleaved(t, path, act, true)
				for i, ly := range kept.Layers {
					if ly.Q.InterleavedHeads != s.Heads || ly.K.InterleavedHeads != s.KVHeads || ly.V.InterleavedHeads != 0 {
						t.Fatalf("layer %d: interleaved heads q %d k %d v %d, want %d %d 0", i,
							ly.Q.InterleavedHeads, ly.K.InterleavedHeads, ly.V.InterleavedHeads, s.Heads, s.KVHeads)
					}
					if copied.Layers[i].Q.InterleavedHeads != 0 {
						t.Fatalf("layer %d of the permuted copy still reorders its output", i)
					}
				}
				for _, chunk := range []int{len(prompt), 1} {
					if d := compare(forwardChunks(t, kept, prompt, chunk), forwardChunks(t, copied, prompt, chunk)); d.max != 0 {
						t.Errorf("chunks of %d: logits differ from the permuted copy's by %v", chunk, d)
					}
				}
			})
		}
	}
}

func openInterleaved(t *testing.T, path, act string, permute bool) *Model {
	t.Helper()
	var wrap func(*cpu.Backend) compute.Backend
	if permute {
		wrap = func(b *cpu.Backend) compute.Backend { return permutingLoad{Backend: b} }
	}
	m, _ := openGGUFOn(t, path, newCPU(t, 2, act), wrap)
	return m
}
