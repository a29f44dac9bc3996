package model

import (
	"testing"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/compute/cpu"
)

// TestDecodeStepDoesNotAllocate: after warm-up, a decode step's forward pass
// allocates nothing (workspace, cache and scratch are all reused).
func TestDecodeStepDoesNotAllocate(t *testing.T) {
	b := cpu.New(2)
	defer b.Close()
	m := openStoriesGGUF(t, b)
	checkDecodeStepAllocatesNothing(t, m, "stories260K")
}

// TestQuantizedDecodeStepDoesNotAllocate: the same holds with Q8_0 and F16
// matrices kept as stored (the kernels' per-worker decoding panels are sized once).
func TestQuantizedDecodeStepDoesNotAllocate(t *testing.T) {
	s := baseSpec()
	for _, dtype := range []string{"Q8_0", "F16"} {
		m, _ := openGGUFModel(t, writeGGUF(t, s, s.Weights(), dtype))
		if typ := m.Layers[0].Q.W.(*cpu.Matrix).Stored().String(); typ != dtype {
			t.Fatalf("q projection kept as %s, want %s", typ, dtype)
		}
		checkDecodeStepAllocatesNothing(t, m, dtype)
	}
}

// checkDecodeStepAllocatesNothing decodes two sequences one token at a time
// on m and fails if a step allocates once warm.
func checkDecodeStepAllocatesNothing(t *testing.T, m *Model, what string) {
	t.Helper()
	checkDecodeStepAllocatesNothingIn(t, m, m.NewKVCache(8, 16), what)
}

// checkDecodeStepAllocatesNothingIn is checkDecodeStepAllocatesNothing on a
// cache of at least 8 blocks of 16 tokens.
func checkDecodeStepAllocatesNothingIn(t *testing.T, m *Model, cache compute.KVCache, what string) {
	t.Helper()
	ws := m.NewWorkspace(4, 4, 0)
	bt := &Batch{Tokens: []int32{1, 5}, Outputs: []int32{0, 1}}
	bt.Attn.Tables = [][]int32{{0, 1, 2, 3}, {4, 5, 6, 7}}
	bt.Attn.Seq = []int32{0, 1}
	pos := int32(0)
	step := func() {
		bt.Attn.Positions = append(bt.Attn.Positions[:0], pos, pos)
		bt.Attn.Slots = append(bt.Attn.Slots[:0], pos, 64+pos)
		if _, err := m.Forward(ws, cache, bt); err != nil {
			t.Fatal(err)
		}
		pos = (pos + 1) % 60
	}
	for range 4 {
		step()
	}
	if n := testing.AllocsPerRun(20, step); n > 0 {
		t.Errorf("%s: a decode step allocates %.1f times", what, n)
	}
}
