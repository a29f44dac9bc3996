//go:build goexperiment.simd && amd64

package kernel

import (
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"simd/archsimd"
	"slices"
	"testing"

	"github.com/graft-ai/graft/engine/gguf"
)

// q8_0Rows are rows that reach every branch of the quantizer: random
// magnitudes from subnormal to near overflow, exact ties of the rounding,
// values a step either side of them, zero blocks, NaN and ±Inf, and scales
// whose reciprocal overflows.
func q8_0Rows(r *rand.Rand) [][]float32 {
	var rows [][]float32
	for _, scale := range []float64{0, 1e-45, 1e-40, 1e-38, 2e-37, 1e-30, 1e-6, 1, 3.5, 1e4, 1e30, 3e38} {
		x := randomX(r, 32*16)
		for i := range x {
			x[i] *= float32(scale)
		}
		rows = append(rows, x)
	}
	for range 300 {
		x := make([]float32, 32*8)
		for i := range x {
			switch r.IntN(8) {
			case 0: // any bit pattern, NaN and Inf included
				x[i] = math.Float32frombits(r.Uint32())
			case 1:
				x[i] = 0
			default:
				x[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(12)-6)))
			}
		}
		// Ties: k+0.5 steps of the block's scale, and their neighbours.
		for b := range 8 {
			blk := x[b*32 : b*32+32]
			var amax float32
			for _, f := range blk {
				if a := float32(math.Abs(float64(f))); a > amax {
					amax = a
				}
			}
			d := amax / 127
			for j := 1; j < 32; j += 5 {
				v := (float32(r.IntN(254)-127) + 0.5) * d
				blk[j] = [3]float32{v, math.Nextafter32(v, 0), math.Nextafter32(v, float32(math.Inf(1)))}[r.IntN(3)]
				if float32(math.Abs(float64(blk[j]))) > amax {
					blk[j] = 0
				}
			}
		}
		rows = append(rows, x)
	}
	return rows
}

// TestQuantizeQ8_0AVX2: the AVX2 quantizer writes the reference's bytes on
// every row, the blocks it hands back to the reference included, and is the
// one the Q8_0-activation types use.
func TestQuantizeQ8_0AVX2(t *testing.T) {
	if !archsimd.X86.AVX2() || !hasF16C() {
		t.Skip("the CPU lacks AVX2 or F16C")
	}
	if levelLimit() >= 1 {
		got := reflect.ValueOf(intDots[gguf.TypeQ4_0].quantize).Pointer()
		if got != reflect.ValueOf(quantizeQ8_0AVX2).Pointer() {
			t.Errorf("Q4_0 quantizes its activations with %s", runtime.FuncForPC(got).Name())
		}
	}
	r := rand.New(rand.NewPCG(14, 5))
	for i, x := range q8_0Rows(r) {
		want, got := make([]byte, len(x)/32*34), make([]byte, len(x)/32*34)
		quantizeQ8_0Act(want, x)
		quantizeQ8_0AVX2(got, x)
		if !slices.Equal(got, want) {
			for b := 0; b < len(want); b += 34 {
				if !slices.Equal(got[b:b+34], want[b:b+34]) {
					t.Fatalf("row %d block %d: x %v\ngot  %v\nwant %v", i, b/34, x[b/34*32:b/34*32+32], got[b:b+34], want[b:b+34])
				}
			}
		}
	}
}

// FuzzQuantizeQ8_0AVX2 compares one block of arbitrary bits.
func FuzzQuantizeQ8_0AVX2(f *testing.F) {
	if !archsimd.X86.AVX2() || !hasF16C() {
		f.Skip("the CPU lacks AVX2 or F16C")
	}
	f.Add(make([]byte, 128))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) < 128 {
			return
		}
		x := make([]float32, 32)
		for i := range x {
			x[i] = math.Float32frombits(uint32(raw[4*i]) | uint32(raw[4*i+1])<<8 | uint32(raw[4*i+2])<<16 | uint32(raw[4*i+3])<<24)
		}
		want, got := make([]byte, 34), make([]byte, 34)
		quantizeQ8_0Act(want, x)
		quantizeQ8_0AVX2(got, x)
		if !slices.Equal(got, want) {
			t.Fatalf("x %v\ngot  %v\nwant %v", x, got, want)
		}
	})
}

func BenchmarkQuantizeQ8_0(b *testing.B) {
	x := randomX(rand.New(rand.NewPCG(1, 1)), 2048)
	dst := make([]byte, 64*34)
	b.Run("ref", func(b *testing.B) {
		for b.Loop() {
			quantizeQ8_0Act(dst, x)
		}
	})
	b.Run("avx2", func(b *testing.B) {
		for b.Loop() {
			quantizeQ8_0AVX2(dst, x)
		}
	})
}
