package kernel

import (
	"math"
	"math/rand/v2"
)

// The scalar twins of the kernels: plain loops with float64 accumulation, the
// yardstick the fast paths are measured against.

func refMatMul(out, x, w []float32, rows, in, outDim int) {
	for r := 0; r < rows; r++ {
		for o := 0; o < outDim; o++ {
			var s float64
			for k := 0; k < in; k++ {
				s += float64(x[r*in+k]) * float64(w[o*in+k])
			}
			out[r*outDim+o] = float32(s)
		}
	}
}

// refAbsMatMul is Σ|x·w| per output, the scale of the rounding error bound.
func refAbsMatMul(out, x, w []float32, rows, in, outDim int) {
	for r := 0; r < rows; r++ {
		for o := 0; o < outDim; o++ {
			var s float64
			for k := 0; k < in; k++ {
				s += math.Abs(float64(x[r*in+k]) * float64(w[o*in+k]))
			}
			out[r*outDim+o] = float32(s)
		}
	}
}

func widenBF16(w []uint16) []float32 {
	f := make([]float32, len(w))
	for i, h := range w {
		f[i] = math.Float32frombits(uint32(h) << 16)
	}
	return f
}

func refRMSNorm(out, x, w []float32, eps float32) {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	s := 1 / math.Sqrt(ss/float64(len(x))+float64(eps))
	for i := range out {
		out[i] = float32(float64(x[i]) * s * float64(w[i]))
	}
}

func refSoftmax(x []float32) {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v))
	}
	var s float64
	e := make([]float64, len(x))
	for i, v := range x {
		e[i] = math.Exp(float64(v) - m)
		s += e[i]
	}
	for i := range x {
		x[i] = float32(e[i] / s)
	}
}

func refSiLU(g float32) float64 { return float64(g) / (1 + math.Exp(-float64(g))) }

// matMulTol bounds |fast - exact| for one output: float32 rounding grows
// like sqrt(in) for random data; 16 unit roundoffs of slack.
func matMulTol(absSum float32, in int) float64 {
	return 16 * 0x1p-24 * math.Sqrt(float64(max(in, 1))) * float64(absSum)
}

func randVec(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

func randBF16(rng *rand.Rand, n int) []uint16 {
	v := make([]uint16, n)
	for i := range v {
		v[i] = uint16(math.Float32bits(float32(rng.NormFloat64()*0.1)) >> 16)
	}
	return v
}
