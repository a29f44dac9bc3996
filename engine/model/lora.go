package model

import (
	"fmt"
	"math"
	"slices"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/float16"
)

// The projections an adapter can target, in Hugging Face's names.
const (
	ModQ = iota
	ModK
	ModV
	ModO
	ModGate
	ModUp
	ModDown
	NumModules
)

// ModuleNames are the PEFT target-module names of the projections, by index.
var ModuleNames = [NumModules]string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}

var moduleIndex = map[string]int{"q": ModQ, "k": ModK, "v": ModV, "o": ModO, "gate": ModGate, "up": ModUp, "down": ModDown}

// ModuleShape returns a projection's output and input sizes.
func (c *Config) ModuleShape(mod int) (out, in int) {
	q, kv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	switch mod {
	case ModQ:
		return q, c.Dim
	case ModK, ModV:
		return kv, c.Dim
	case ModO:
		return c.Dim, q
	case ModGate, ModUp:
		return c.FFN, c.Dim
	}
	return c.Dim, c.FFN
}

// HostLoRA is one projection's adapter weights in host memory, in the Hugging
// Face layout: A is [Rank, in], B is [out, Rank]. A and B may be memory the
// HostLoRA owns outside the Go heap (lora.Load), unmapped once it is
// unreachable: keep the HostLoRA, or copy them.
type HostLoRA struct {
	A, B  []float32
	Rank  int
	Scale float32
}

type slotLoRA struct {
	a, b  compute.Matrix
	scale float32
}

// AdapterSlots are backend-resident adapters, [slot][layer][module]: the
// active tier. Each engine owns its own; a batch names them per token.
type AdapterSlots struct {
	m       *Model
	slots   [][][NumModules]*slotLoRA
	maxRank int
}

// NewAdapterSlots reserves n slots for adapters of rank up to maxRank.
func (m *Model) NewAdapterSlots(n, maxRank int) *AdapterSlots {
	return &AdapterSlots{m: m, slots: make([][][NumModules]*slotLoRA, n), maxRank: maxRank}
}

// Len is the number of slots.
func (a *AdapterSlots) Len() int { return len(a.slots) }

// Set uploads an adapter's weights ([layer][module], nil where absent) into
// slot i, replacing what was there.
func (a *AdapterSlots) Set(i int, w [][NumModules]*HostLoRA) error {
	m := a.m
	c := &m.Config
	if i < 0 || i >= len(a.slots) {
		return fmt.Errorf("adapter slot %d does not exist", i)
	}
	if len(w) != c.Layers {
		return fmt.Errorf("adapter has %d layers, the model %d", len(w), c.Layers)
	}
	slot := make([][NumModules]*slotLoRA, c.Layers)
	for l := range w {
		for mod, h := range w[l] {
			if h == nil {
				continue
			}
			out, in := c.ModuleShape(mod)
			if h.Rank <= 0 || h.Rank > a.maxRank || len(h.A) != h.Rank*in || len(h.B) != out*h.Rank {
				return fmt.Errorf("layer %d %s: adapter rank %d or shapes do not fit (max rank %d)", l, ModuleNames[mod], h.Rank, a.maxRank)
			}
			slot[l][mod] = &slotLoRA{a: m.loraMatrix(h.A, h.Rank, in), b: m.loraMatrix(h.B, out, h.Rank), scale: h.Scale}
		}
	}
	a.slots[i] = slot
	return nil
}

// narrowLoRA is a backend whose AddLoRA takes bfloat16 A and B as they are
// (the CPU's).
type narrowLoRA interface {
	LoRAMatrixBF16(data []uint16, rows, cols int) compute.Matrix
}

// loraMatrix keeps w in bfloat16 when every value is one (an adapter saved
// in bfloat16, as PEFT saves one trained on a bfloat16 model) and the
// backend computes with it: decode over many adapters reads each adapter's
// weights every step, and they then take half the bytes. The widening is
// exact and the backend's products are the same, so the bits are those of
// the float32 matrix either way.
func (m *Model) loraMatrix(w []float32, rows, cols int) compute.Matrix {
	nb, ok := m.b.(narrowLoRA)
	if !ok || !bf16Exact(w) {
		// Matrix keeps what it is given, and w may be memory its HostLoRA
		// owns (lora.Load maps it off the heap), gone once the host copy
		// is evicted while the slot still serves.
		return m.b.Matrix(slices.Clone(w), rows, cols)
	}
	h := make([]uint16, len(w))
	float16.F32ToBF16(h, w) // exact: the low halves are zero
	return nb.LoRAMatrixBF16(h, rows, cols)
}

func bf16Exact(w []float32) bool {
	for _, v := range w {
		if math.Float32bits(v)&0xffff != 0 {
			return false
		}
	}
	return true
}

// Clear empties slot i.
func (a *AdapterSlots) Clear(i int) {
	if i >= 0 && i < len(a.slots) {
		a.slots[i] = nil
	}
}

// maxLoRASegmentRows splits long prefill runs so that segments spread over
// cores; rows are independent, so the split does not change any result.
const maxLoRASegmentRows = 16

// loraRun is a run of consecutive rows with the same adapter slot, at most
// maxLoRASegmentRows long.
type loraRun struct {
	start, end int
	slot       int32
}

// loraRuns splits a batch's per-token slots into runs, once per forward pass:
// every projection of every layer uses the same runs.
func loraRuns(ws *Workspace, slots []int32) {
	runs := ws.runs[:0]
	for start := 0; start < len(slots); {
		end := start + 1
		for end < len(slots) && slots[end] == slots[start] && end-start < maxLoRASegmentRows {
			end++
		}
		if slots[start] >= 0 {
			runs = append(runs, loraRun{start: start, end: end, slot: slots[start]})
		}
		start = end
	}
	ws.runs = runs
}

// segments lists the segments of one projection: the runs whose adapter holds
// this layer and module.
func (a *AdapterSlots) segments(ws *Workspace, layer, mod int) []compute.LoRASegment {
	segs := ws.segs[:0]
	for _, r := range ws.runs {
		if l := a.slots[r.slot]; l != nil && l[layer][mod] != nil {
			w := l[layer][mod]
			segs = append(segs, compute.LoRASegment{Start: r.start, End: r.end, A: w.a, B: w.b, Scale: w.scale})
		}
	}
	ws.segs = segs
	return segs
}
