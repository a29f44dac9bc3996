package kernel

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine/float16"
)

func randF16(rng *rand.Rand, n int) []uint16 {
	v := make([]uint16, n)
	for i := range v {
		v[i] = float16.Float32ToF16(float32(rng.NormFloat64() * 0.1))
	}
	v[0] = 0x0001 // a subnormal half
	return v
}

// TestMatMulF16: half weights give the float64 product of their exact
// widening within float32 accumulation error, and each row's bits are the
// same alone and in every batch, serial or on a pool.
func TestMatMulF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 16))
	for _, p := range pools(t) {
		for _, s := range shapes {
			x, wh := randVec(rng, s.rows*s.in), randF16(rng, s.out*s.in)
			out := make([]float32, s.rows*s.out)
			MatMulF16(p, out, x, wh, s.rows, s.in, s.out)
			for r := range s.rows {
				alone := make([]float32, s.out)
				MatMulF16(nil, alone, x[r*s.in:(r+1)*s.in], wh, 1, s.in, s.out)
				for c := range s.out {
					var want, mag float64
					for k := range s.in {
						v := float64(x[r*s.in+k]) * float64(float16.F16ToFloat32(wh[c*s.in+k]))
						want, mag = want+v, mag+math.Abs(v)
					}
					got := out[r*s.out+c]
					if math.Abs(float64(got)-want) > 1e-6*mag+1e-30 {
						t.Fatalf("%v [%d,%d]: %g, float64 %g", s, r, c, got, want)
					}
					if math.Float32bits(got) != math.Float32bits(alone[c]) {
						t.Fatalf("%v [%d,%d]: %g in the batch, %g alone", s, r, c, got, alone[c])
					}
				}
			}
		}
	}
	p := NewPool(2)
	defer p.Close()
	x, wh, out := randVec(rng, 4*256), randF16(rng, 64*256), make([]float32, 4*64)
	if n := testing.AllocsPerRun(20, func() { MatMulF16(p, out, x, wh, 4, 256, 64) }); n != 0 {
		t.Fatalf("MatMulF16 allocates %v times per call", n)
	}
}

// TestF16EqualsWidenedBitForBit: half weights give exactly the bits of their
// float32 widening, alone and in batches (a batch widens panels of weight
// rows once and runs the float32 tiles, a lone row widens in registers).
func TestF16EqualsWidenedBitForBit(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 16))
	for _, p := range pools(t) {
		for _, s := range shapes {
			x, wh := randVec(rng, s.rows*s.in), randF16(rng, s.out*s.in)
			wf := make([]float32, len(wh))
			float16.F16ToF32(wf, wh)
			narrow, wide := make([]float32, s.rows*s.out), make([]float32, s.rows*s.out)
			MatMulF16(p, narrow, x, wh, s.rows, s.in, s.out)
			MatMul(p, wide, x, wf, s.rows, s.in, s.out)
			for i := range narrow {
				if math.Float32bits(narrow[i]) != math.Float32bits(wide[i]) {
					t.Fatalf("%v: out[%d] = %g from f16, %g from widened f32", s, i, narrow[i], wide[i])
				}
			}
		}
	}
}
