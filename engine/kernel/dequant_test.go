package kernel

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine/gguf"
)

// checkDequant compares the dequantizer in use for t (SIMD where the CPU has
// it) with gguf.Dequantize, ggml's reference decoding, bit for bit; NaNs
// (from NaN scales, which loading rejects) need only both be NaN.
func checkDequant(t *testing.T, typ gguf.Type, src []byte) {
	t.Helper()
	n := len(src) / typ.BlockBytes() * typ.BlockSize()
	want, got := make([]float32, n), make([]float32, n)
	if err := gguf.Dequantize(typ, want, src); err != nil {
		t.Fatal(err)
	}
	dequantizers[typ](got, src)
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(math.IsNaN(float64(got[i])) && math.IsNaN(float64(want[i]))) {
			t.Fatalf("%s (%s kernels) value %d of %d: %g (%#x), gguf.Dequantize %g (%#x)",
				typ, Level(), i, n, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// TestDequantizersMatchReference: every block byte random, scales included
// (any half: subnormal, huge, Inf, NaN), over runs of blocks longer than
// one assembly chunk.
func TestDequantizersMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 14))
	for _, typ := range QuantTypes {
		for _, blocks := range []int{1, 3, 300} {
			src := make([]byte, blocks*typ.BlockBytes())
			for i := range src {
				src[i] = byte(r.Uint32())
			}
			checkDequant(t, typ, src)
			checkDequant(t, typ, randomQ(r, typ, blocks, typ.BlockSize()))
		}
	}
}

func FuzzDequantizers(f *testing.F) {
	f.Add(make([]byte, 210))
	f.Add(randomQ(rand.New(rand.NewPCG(6, 14)), gguf.TypeQ6_K, 2, 256))
	f.Fuzz(func(t *testing.T, src []byte) {
		for _, typ := range QuantTypes {
			if len(src) >= typ.BlockBytes() {
				checkDequant(t, typ, src[:len(src)/typ.BlockBytes()*typ.BlockBytes()])
			}
		}
	})
}
