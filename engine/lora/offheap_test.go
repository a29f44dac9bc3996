package lora_test

import (
	"path/filepath"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/graft-ai/graft/engine/lora"
	"github.com/graft-ai/graft/engine/model"
	"github.com/graft-ai/graft/engine/randmodel"
	"github.com/graft-ai/graft/internal/testmaps"
)

// TestSlotOutlivesHostCopy: a parsed adapter's weights are mappings of its
// own, outside the Go heap, unmapped once the adapter is dropped (as an
// engine evicts its host copy); a slot loaded from it keeps serving, with
// the same logits, from copies of its own (float32 weights, which the slot
// would otherwise alias).
func TestSlotOutlivesHostCopy(t *testing.T) {
	dir := t.TempDir()
	basePath := filepath.Join(dir, "base.gguf")
	if err := randmodel.WriteGGUFWeights(basePath, mergeBase, mergeBase.Weights(), "F32"); err != nil {
		t.Fatal(err)
	}
	spec := mergeCases["plain"] // float32 weights, not all exact in bfloat16
	if err := randmodel.WriteAdapter(filepath.Join(dir, "plain"), mergeBase, spec); err != nil {
		t.Fatal(err)
	}
	base := loadModel(t, basePath)
	slots := base.NewAdapterSlots(1, 64)
	a, err := lora.Load(filepath.Join(dir, "plain"), &base.Config, 64)
	if err != nil {
		t.Fatal(err)
	}
	addr := uintptr(unsafe.Pointer(&a.Weights[0][model.ModQ].A[0]))
	if err := slots.Set(0, a.Weights); err != nil {
		t.Fatal(err)
	}
	lens, seqSlots := []int{7, 5}, []int32{0, -1}
	want := forwardSeqs(t, base, slots, lens, seqSlots)
	a = nil
	for deadline := time.Now().Add(10 * time.Second); testmaps.Mapped(t, addr); {
		if time.Now().After(deadline) {
			t.Fatal("the adapter's weights are still mapped 10 s after it was dropped")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	got := forwardSeqs(t, base, slots, lens, seqSlots)
	for s := range got {
		for r := range got[s] {
			if d := maxDiff(got[s][r], want[s][r]); d != 0 {
				t.Fatalf("sequence %d row %d: logits moved by %g once the host copy was gone", s, r, d)
			}
		}
	}
}
