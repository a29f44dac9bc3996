package model

import (
	"math"
	"testing"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/compute/cpu"
	"github.com/graft-ai/graft/engine/gguf"
	"github.com/graft-ai/graft/engine/kernel"
)

// TestWeightsPacked: the projections of Q4_0, Q4_K_M, Q6_K, Q2_K and Q3_K_M files
// load packed where they are of a packed type (the token embedding stays
// as stored unless the head is tied to it: then both are one packed
// matrix, whose decode step still allocates nothing). Packed K-quant dots sum in another float order than
// the rows as stored (and the Q4_0 file's output head is Q6_K), so the
// logits, for prefill and single-token steps, are checked against the
// stored rows' as follows:
//   - they agree to packedRelRMS where no step rounds an activation to
//     the other neighbouring int8 (flipFree: so on this prompt);
//   - they are as close as the stored ones to a float64 forward pass over
//     the dequantized weights, within packedRelRMS.
//
// On Q4_0, whose packed dots keep the stored rows' bits, the stored model
// also takes the packed model's (Q6_K) head: the logits must then be
// bit-identical.
//
// Positions agree to float rounding (1e-7 of their RMS) until such a
// rounding, which attention carries on: on the Q6_K file it comes at
// position 13, and the logits then differ from the stored rows' by 1-2%,
// both 2.8% from float64, as int8 activations leave any file. A wrong
// block, scale or sign moves them by their whole RMS.
func TestWeightsPacked(t *testing.T) {
	s := quantSpec()
	f32 := writeGGUF(t, s, s.Weights(), "F32")
	tied := quantSpec()
	tied.Tied = true
	tiedF32 := writeGGUF(t, tied, tied.Weights(), "F32")
	for _, c := range []struct {
		name     string
		ftype    int
		typ      gguf.Type
		flipFree bool // no activation rounds otherwise on this prompt
		tied     bool
	}{
		{"Q4_0", 2, gguf.TypeQ4_0, true, false},
		{"Q4_1", 3, gguf.TypeQ4_1, false, false}, // a rounding at position 19
		{"Q5_0", 8, gguf.TypeQ5_0, true, false},
		{"Q5_1", 9, gguf.TypeQ5_1, false, false}, // a rounding at position 2
		{"Q4_K_M", 15, gguf.TypeQ4_K, true, false},
		{"Q6_K", 18, gguf.TypeQ6_K, false, false},
		{"Q2_K", 10, gguf.TypeQ2_K, false, false}, // a rounding at position 9
		{"Q3_K_M", 12, gguf.TypeQ3_K, true, false},
		{"Q4_K_M tied", 15, gguf.TypeQ4_K, false, true}, // a rounding at position 1
	} {
		t.Run(c.name, func(t *testing.T) {
			if !kernel.CanPack(c.typ, 8, 256) {
				t.Skipf("no packed %s kernels on this CPU or build", c.typ)
			}
			spec, path := s, f32
			if c.tied {
				spec, path = tied, tiedF32
			}
			path = llamaQuantize(t, path, c.ftype)
			packed, f := openGGUFOn(t, path, newCPU(t, 2, "int8"), nil)
			sb := newCPU(t, 2, "int8")
			sb.SetRepack(false) // the loader keeps the weights as the file stores them
			stored, _ := openGGUFOn(t, path, sb, nil)
			checkPacked(t, packed, stored, c.typ)
			exact := c.typ == gguf.TypeQ4_0
			if exact { // only the Q4_0 layers differ then
				stored.Output = packed.Output
			}
			prompt := testPrompt(spec.Seed, 24, spec.Vocab)
			ref := newRef(spec, dequantized(t, f, spec)).forward(prompt)
			for _, chunk := range []int{len(prompt), 1} {
				got, want := forwardChunks(t, packed, prompt, chunk), forwardChunks(t, stored, prompt, chunk)
				if d := compare(got, want); exact && d.max != 0 {
					t.Errorf("chunks of %d: packed Q4_0 logits differ from the stored rows' by %v", chunk, d)
				}
				checkPackedLogits(t, got, want, ref, c.flipFree, chunk)
			}
			if c.tied {
				checkDecodeStepAllocatesNothing(t, packed, c.name)
			}
		})
	}
}

// checkPackedLogits holds packed logits got to the stored rows' want and
// the float64 reference ref as TestWeightsPacked says.
func checkPackedLogits(t *testing.T, got, want [][]float32, ref [][]float64, flipFree bool, chunk int) {
	t.Helper()
	first := len(got)
	for p := range got {
		if relRMS(got[p:p+1], want[p:p+1]) > 1e-5 {
			first = p
			break
		}
	}
	rel := relRMS(got, want)
	if flipFree && rel > packedRelRMS {
		t.Errorf("chunks of %d: packed logits differ from the stored rows' by %.3g of their RMS from position %d (max %v)", chunk, rel, first, compare(got, want))
	}
	t.Logf("chunks of %d: packed logits %.3g of their RMS from the stored rows' (from position %d)", chunk, rel, first)
	rp, rs := relRMS(got, ref), relRMS(want, ref)
	if math.Abs(rp-rs) > packedRelRMS || math.IsNaN(rp) {
		t.Errorf("chunks of %d: packed logits are %.3g of their RMS from float64, the stored rows' %.3g", chunk, rp, rs)
	}
}

// packedRelRMS bounds the relative RMS difference of packed and stored
// logits. A dot a rounding apart can round an activation of the next
// layer to the neighbouring int8, 2^-8 of its block's largest value:
// measured 3.0e-4 on the test model, against 3% between int8 and float64
// logits (int8RelRMS).
const packedRelRMS = 1e-3

// checkPacked fails unless every projection of packed of type typ is
// packed, and its Gate is, and nothing of stored is; the embedding is
// packed where it is the head too (a tied model), and only then.
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
	switch {
	case packed.Config.TiedEmbedding && (!isPacked(packed.Embed) || packed.Output != packed.Embed):
		t.Fatal("a tied head was not packed, or its lookups do not use the packed copy")
	case !packed.Config.TiedEmbedding && isPacked(packed.Embed):
		t.Fatal("the token embedding was packed: a lookup table should stay as stored")
	}
}
