package cpu

import (
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine/compute"
)

// BenchmarkAddLoRAStep runs the LoRA work of one decode step of 32 streams
// over 32 distinct rank-16 bfloat16 adapters on every projection of a 110M
// Llama (dim 768, FFN 2048, 12 layers): 84 AddLoRA calls of 32 one-row
// segments, 179 MB of adapters each read once a step, as `graft bench lora
// --adapters 32` reads them, without the base model around them. It
// reports the adapters' bytes per second on two threads; the first
// iterations find them still in the L3 from their making (on a host whose
// L3 holds 179 MB), so compare runs of the same -benchtime.
func BenchmarkAddLoRAStep(b *testing.B) {
	const dim, ffn, layers, streams, rank = 768, 2048, 12, 32, 16
	shapes := [][2]int{{dim, dim}, {dim, dim}, {dim, dim}, {dim, dim}, {ffn, dim}, {ffn, dim}, {dim, ffn}}
	be := New(2)
	defer be.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	bf16 := func(n int) []uint16 {
		h := make([]uint16, n)
		for i := range h {
			h[i] = 0x3c00 + uint16(rng.IntN(0x200)) // in [2⁻⁷, 2⁻⁵): deltas stay finite
		}
		return h
	}
	type proj struct {
		segs    []compute.LoRASegment
		out, in int
	}
	var projs []proj
	bytes := 0
	for range layers {
		for _, s := range shapes {
			p := proj{out: s[0], in: s[1]}
			for i := range streams {
				a, bm := be.MatrixBF16(bf16(rank*s[1]), rank, s[1]), be.MatrixBF16(bf16(s[0]*rank), s[0], rank)
				p.segs = append(p.segs, compute.LoRASegment{Start: i, End: i + 1, A: a, B: bm, Scale: 0.5})
				bytes += 2 * rank * (s[0] + s[1])
			}
			projs = append(projs, p)
		}
	}
	x := make(Buffer, streams*ffn)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	out := make(Buffer, streams*ffn)
	scratch := make(Buffer, streams*rank)
	b.SetBytes(int64(bytes))
	for b.Loop() {
		for _, p := range projs {
			be.AddLoRA(out[:streams*p.out], x[:streams*p.in], streams, p.segs, scratch)
		}
	}
}
