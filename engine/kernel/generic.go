package kernel

import (
	"math"

	"github.com/graft-ai/graft/engine/float16"
)

// The portable implementations. They are also the fallback of the SIMD build
// on CPUs without AVX2 and FMA.

// dotGo keeps four partial sums; every MatMul path of the portable build
// calls it, so that build is batch-invariant too.
func dotGo(a, b []float32, n int) float32 {
	a, b = a[:n], b[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < n; i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// bf16 widens bfloat16 bits to the float32 they denote (exactly).
func bf16(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

func dotBF16Go(a []float32, b []uint16, n int) float32 {
	a, b = a[:n], b[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += a[i] * bf16(b[i])
		s1 += a[i+1] * bf16(b[i+1])
		s2 += a[i+2] * bf16(b[i+2])
		s3 += a[i+3] * bf16(b[i+3])
	}
	for ; i < n; i++ {
		s0 += a[i] * bf16(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

func axpyGo(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}

func scaleGo(x []float32, a float32) {
	for i := range x {
		x[i] *= a
	}
}

func addGo(out, a, b []float32) {
	a, b = a[:len(out)], b[:len(out)]
	for i := range out {
		out[i] = a[i] + b[i]
	}
}

func mulGo(out, a, b []float32) {
	a, b = a[:len(out)], b[:len(out)]
	for i := range out {
		out[i] = a[i] * b[i]
	}
}

func sumSqGo(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s
}

// exp32 rounds the float64 exponential; math.Exp is within 1 ulp in float64,
// so this is correctly rounded but for rare double-rounding ties.
func exp32(x float32) float32 { return float32(math.Exp(float64(x))) }

func siluMulGo(out, gate, up []float32) {
	gate, up = gate[:len(out)], up[:len(out)]
	for i, g := range gate {
		out[i] = g / (1 + exp32(-g)) * up[i]
	}
}

// expSubGo sets x[i] = e^(x[i]-m) and returns their float32 sum.
func expSubGo(x []float32, m float32) float32 {
	var s float32
	for i, v := range x {
		e := exp32(v - m)
		x[i] = e
		s += e
	}
	return s
}

func maxGo(x []float32) float32 {
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	return m
}

func dotF16Go(a []float32, b []uint16, n int) float32 {
	a, b = a[:n], b[:n]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += a[i] * float16.F16ToFloat32(b[i])
		s1 += a[i+1] * float16.F16ToFloat32(b[i+1])
		s2 += a[i+2] * float16.F16ToFloat32(b[i+2])
		s3 += a[i+3] * float16.F16ToFloat32(b[i+3])
	}
	for ; i < n; i++ {
		s0 += a[i] * float16.F16ToFloat32(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}
