package kernel

import (
	"fmt"
	"math"
)

// level names the kernel set in use, for logs and benchmarks.
var level = "portable"

// Implementations in use; the SIMD build replaces them at init when the CPU
// can. Callers have already checked lengths.
var (
	dotImpl     = dotGo
	axpyImpl    = axpyGo
	scaleImpl   = scaleGo
	addImpl     = addGo
	mulImpl     = mulGo
	sumSqImpl   = sumSqGo
	siluMulImpl = siluMulGo
	expSubImpl  = expSubGo
	maxImpl     = maxGo
	unpairImpl  = unpairGo
)

func checkLen(op string, want int, got ...int) {
	for _, n := range got {
		if n < want {
			panic(fmt.Sprintf("kernel: %s: slice of length %d, need %d", op, n, want))
		}
	}
}

// Dot returns Σ a[i]·b[i] over len(a); b must be at least as long.
func Dot(a, b []float32) float32 {
	checkLen("Dot", len(a), len(b))
	return dotImpl(a, b[:len(a)], len(a))
}

// Unpair sets dst[i] = src[2i] and dst[len/2+i] = src[2i+1]: one head of
// q or k from the interleaved-pair RoPE order GGUF stores to rotate_half.
// dst and src must not overlap.
func Unpair(dst, src []float32) {
	checkLen("Unpair", len(dst), len(src))
	if len(dst)%2 != 0 {
		panic(fmt.Sprintf("kernel: Unpair: odd length %d", len(dst)))
	}
	unpairImpl(dst, src[:len(dst)])
}

func unpairGo(dst, src []float32) {
	half := len(dst) / 2
	lo, hi := dst[:half], dst[half:]
	for i := range lo {
		lo[i], hi[i] = src[2*i], src[2*i+1]
	}
}

// Axpy adds a·x to y elementwise over len(y).
func Axpy(y []float32, a float32, x []float32) {
	checkLen("Axpy", len(y), len(x))
	axpyImpl(y, a, x[:len(y)])
}

// Scale multiplies x by a in place.
func Scale(x []float32, a float32) { scaleImpl(x, a) }

// Add sets out[i] = a[i] + b[i] over len(out).
func Add(out, a, b []float32) {
	checkLen("Add", len(out), len(a), len(b))
	addImpl(out, a[:len(out)], b[:len(out)])
}

// Mul sets out[i] = a[i] · b[i] over len(out).
func Mul(out, a, b []float32) {
	checkLen("Mul", len(out), len(a), len(b))
	mulImpl(out, a[:len(out)], b[:len(out)])
}

// RMSNorm sets out = x · 1/sqrt(mean(x²) + eps) · w over len(out), with
// Hugging Face Llama semantics. The sum of squares is accumulated in float64
// (as llama.cpp does) and the scale rounded once to float32, so the result
// barely depends on the summation order; the products are float32.
func RMSNorm(out, x, w []float32, eps float32) {
	n := len(out)
	checkLen("RMSNorm", n, len(x), len(w))
	if n == 0 {
		return
	}
	ss := sumSqImpl(x[:n])
	scale := float32(1 / math.Sqrt(ss/float64(n)+float64(eps)))
	x, w = x[:n], w[:n]
	for i := range out {
		out[i] = x[i] * scale * w[i]
	}
}

// SiLUMul sets out[i] = silu(gate[i]) · up[i], silu(g) = g / (1 + e^-g).
func SiLUMul(out, gate, up []float32) {
	checkLen("SiLUMul", len(out), len(gate), len(up))
	siluMulImpl(out, gate[:len(out)], up[:len(out)])
}

// Softmax replaces x by exp(x - max x) / Σ exp(x - max x). The sum is
// accumulated in float32 lanes. An empty x is left alone.
func Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	sum := expSubImpl(x, maxImpl(x))
	Scale(x, 1/sum)
}

// MaxIndex returns the index of the largest element, the lowest index on
// ties; NaNs are never chosen unless all are NaN (then 0). An empty x gives -1.
func MaxIndex(x []float32) int {
	if len(x) == 0 {
		return -1
	}
	best := 0
	for i, v := range x {
		if v > x[best] || (x[best] != x[best] && v == v) {
			best = i
		}
	}
	return best
}

// Exp returns e^x in float32 with the kernels' exponential (at most 2 ulp
// from the correctly rounded value).
func Exp(x float32) float32 {
	var buf [1]float32
	buf[0] = x
	expSubImpl(buf[:], 0)
	return buf[0]
}
