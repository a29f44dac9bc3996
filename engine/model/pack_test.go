package model

import (
	"testing"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/compute/cpu"
	"github.com/graft-ai/graft/engine/gguf"
	"github.com/graft-ai/graft/engine/kernel"
)

// storedLoad is the CPU backend without its Pack: the field shadows the
// promoted method, so the loader keeps Q4_0 weights as the file stores them.
type storedLoad struct {
	*cpu.Backend
	Pack struct{}
}

// TestQ4_0WeightsPacked: a Q4_0 file's projections load packed eight rows
// to a block (the token embedding stays as stored), and the logits have
// the bits of the same file with its rows as stored, for prefill and
// single-token steps.
func TestQ4_0WeightsPacked(t *testing.T) {
	if !kernel.CanPackQ4_0(8, 32) {
		t.Skip("no packed Q4_0 kernels on this CPU or build")
	}
	s := quantSpec()
	path := llamaQuantize(t, writeGGUF(t, s, s.Weights(), "F32"), 2)
	packed, _ := openGGUFOn(t, path, newCPU(t, 2, "int8"), nil)
	stored, _ := openGGUFOn(t, path, newCPU(t, 2, "int8"), func(b *cpu.Backend) compute.Backend { return storedLoad{Backend: b} })
	isPacked := func(m compute.Matrix) bool { return m.(*cpu.Matrix).Packed() }
	for i, ly := range packed.Layers {
		for _, l := range []*Linear{ly.Q, ly.K, ly.V, ly.O, ly.Gate, ly.Up, ly.Down} {
			if l.W.(*cpu.Matrix).Stored() == gguf.TypeQ4_0 && !isPacked(l.W) {
				t.Fatalf("layer %d: a Q4_0 projection was not packed", i)
			}
		}
		if isPacked(stored.Layers[i].Gate.W) {
			t.Fatalf("layer %d: packed on a backend without Pack", i)
		}
	}
	if !isPacked(packed.Layers[0].Gate.W) {
		t.Fatal("the file's ffn_gate is not packed: is it still Q4_0?")
	}
	if isPacked(packed.Embed) {
		t.Fatal("the token embedding was packed: a lookup table should stay as stored")
	}
	prompt := testPrompt(s.Seed, 24, s.Vocab)
	for _, chunk := range []int{len(prompt), 1} {
		if d := compare(forwardChunks(t, packed, prompt, chunk), forwardChunks(t, stored, prompt, chunk)); d.max != 0 {
			t.Errorf("chunks of %d: packed logits differ from the stored rows' by %v", chunk, d)
		}
	}
}
