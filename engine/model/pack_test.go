package model

import (
	"testing"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/compute/cpu"
	"github.com/graft-ai/graft/engine/gguf"
	"github.com/graft-ai/graft/engine/kernel"
)

// TestWeightsPacked: the projections of a Q4_0 and of a Q4_K_M file load
// packed eight rows to a block where they are of a packed type (the token
// embedding stays as stored). The logits have the bits of the same file
// with its rows as stored on Q4_0, for prefill and single-token steps; on
// Q4_K_M, whose packed dots sum in another float order, they are within
// packedRelRMS of them.
func TestWeightsPacked(t *testing.T) {
	s := quantSpec()
	f32 := writeGGUF(t, s, s.Weights(), "F32")
	for _, c := range []struct {
		name  string
		ftype int
		typ   gguf.Type
	}{{"Q4_0", 2, gguf.TypeQ4_0}, {"Q4_K_M", 15, gguf.TypeQ4_K}} {
		t.Run(c.name, func(t *testing.T) {
			if !kernel.CanPack(c.typ, 8, 256) {
				t.Skipf("no packed %s kernels on this CPU or build", c.typ)
			}
			path := llamaQuantize(t, f32, c.ftype)
			packed, _ := openGGUFOn(t, path, newCPU(t, 2, "int8"), nil)
			sb := newCPU(t, 2, "int8")
			sb.SetRepack(false) // the loader keeps the weights as the file stores them
			stored, _ := openGGUFOn(t, path, sb, nil)
			checkPacked(t, packed, stored, c.typ)
			prompt := testPrompt(s.Seed, 24, s.Vocab)
			for _, chunk := range []int{len(prompt), 1} {
				got, want := forwardChunks(t, packed, prompt, chunk), forwardChunks(t, stored, prompt, chunk)
				d := compare(got, want)
				if c.typ == gguf.TypeQ4_0 && d.max != 0 {
					t.Errorf("chunks of %d: packed logits differ from the stored rows' by %v", chunk, d)
				}
				if rel := relRMS(got, want); rel > packedRelRMS {
					t.Errorf("chunks of %d: packed logits differ from the stored rows' by %.3g of their RMS (max %v)", chunk, rel, d)
				}
			}
		})
	}
}

// packedRelRMS bounds the relative RMS difference of packed and stored
// Q4_K logits. A dot a rounding apart can round an activation of the next
// layer to the neighbouring int8, 2^-8 of its block's largest value:
// measured 3.0e-4 on the test model, against 3% between int8 and float64
// logits (int8RelRMS). A wrong block, scale or sign moves them by their
// whole RMS.
const packedRelRMS = 1e-3

// checkPacked fails unless every projection of packed of type typ is
// packed, and its Gate is, and neither the embedding nor anything of
// stored is.
func checkPacked(t *testing.T, packed, stored *Model, typ gguf.Type) {
	t.Helper()
	isPacked := func(m compute.Matrix) bool { return m.(*cpu.Matrix).Packed() }
	for i, ly := range packed.Layers {
		for _, l := range []*Linear{ly.Q, ly.K, ly.V, ly.O, ly.Gate, ly.Up, ly.Down} {
			if l.W.(*cpu.Matrix).Stored() == typ && !isPacked(l.W) {
				t.Fatalf("layer %d: a %s projection was not packed", i, typ)
			}
		}
		if isPacked(stored.Layers[i].Gate.W) {
			t.Fatalf("layer %d: packed on a backend with repacking off", i)
		}
	}
	if !isPacked(packed.Layers[0].Gate.W) {
		t.Fatalf("the file's ffn_gate is not packed: is it still %s?", typ)
	}
	if isPacked(packed.Embed) {
		t.Fatal("the token embedding was packed: a lookup table should stay as stored")
	}
}
