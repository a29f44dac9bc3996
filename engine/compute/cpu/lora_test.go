package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine/compute"
)

// TestAddLoRABF16 runs segments of adapters kept in bfloat16 (MatrixBF16)
// against the same values in float32: the delta has the same bits, since
// widening is exact and the kernels compute the same products in the same
// order, and every row's bits are the same alone as in the batch.
func TestAddLoRABF16(t *testing.T) {
	b := New(2)
	defer b.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	const in, out, rows = 40, 37, 6
	bf16Values := func(n int) ([]float32, []uint16) {
		f, h := make([]float32, n), make([]uint16, n)
		for i := range f {
			h[i] = uint16(math.Float32bits(float32(rng.NormFloat64())) >> 16)
			f[i] = math.Float32frombits(uint32(h[i]) << 16)
		}
		return f, h
	}
	x := make([]float32, rows*in)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	var wide, narrow []compute.LoRASegment
	for i, rank := range []int{3, 8} {
		af, ah := bf16Values(rank * in)
		bf, bh := bf16Values(out * rank)
		seg := compute.LoRASegment{Start: 3 * i, End: 3*i + 3, Scale: 0.5 + float32(i)}
		seg.A, seg.B = b.Matrix(af, rank, in), b.Matrix(bf, out, rank)
		wide = append(wide, seg)
		seg.A, seg.B = b.MatrixBF16(ah, rank, in), b.MatrixBF16(bh, out, rank)
		narrow = append(narrow, seg)
	}
	run := func(segs []compute.LoRASegment, x []float32, rows int) []float32 {
		o := make(Buffer, rows*out)
		for i := range o {
			o[i] = 0.25
		}
		b.AddLoRA(o, Buffer(x), rows, segs, make(Buffer, rows*8))
		return o
	}
	want, got := run(wide, x, rows), run(narrow, x, rows)
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("out[%d] = %v from bfloat16 weights, %v from the same values in float32", i, got[i], want[i])
		}
	}
	// The last row alone, as decode runs it.
	last := narrow[1]
	last.Start, last.End = 0, 1
	alone := run([]compute.LoRASegment{last}, x[(rows-1)*in:], 1)
	for i := range alone {
		if math.Float32bits(alone[i]) != math.Float32bits(got[(rows-1)*out+i]) {
			t.Fatalf("row alone: out[%d] = %v, in the batch %v", i, alone[i], got[(rows-1)*out+i])
		}
	}
}
