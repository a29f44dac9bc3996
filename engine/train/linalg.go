package train

import (
	"math"

	"github.com/graft-ai/graft/engine/kernel"
)

// float is the element type of the training math: float32 for training,
// float64 for the finite-difference checks of the same code.
type float interface{ ~float32 | ~float64 }

// matmul sets out[r, o] = Σ_k x[r, k]·w[o, k] (x·wᵀ, PyTorch Linear layout)
// with plain loops: the float64 reference path (float32 runs on gemmSum).
func matmul[T float](p *kernel.Pool, out, x, w []T, rows, in, outDim int) {
	parallel(p, outDim, func(lo, hi int) {
		for r := 0; r < rows; r++ {
			xr := x[r*in : (r+1)*in]
			for o := lo; o < hi; o++ {
				wo := w[o*in : (o+1)*in]
				var s T
				for k, v := range xr {
					s += v * wo[k]
				}
				out[r*outDim+o] = s
			}
		}
	})
}

// matmulB sets out = x·b with b given as [k, n] (the transpose of matmul's
// w), with plain loops like matmul.
func matmulB[T float](p *kernel.Pool, out, x, b []T, rows, k, n int) {
	parallel(p, n, func(lo, hi int) {
		for r := 0; r < rows; r++ {
			for j := lo; j < hi; j++ {
				var s T
				for t := 0; t < k; t++ {
					s += x[r*k+t] * b[t*n+j]
				}
				out[r*n+j] = s
			}
		}
	})
}

// parallel runs fn over [0, n) on the pool (the caller joins in).
func parallel(p *kernel.Pool, n int, fn func(lo, hi int)) {
	if p == nil {
		fn(0, n)
		return
	}
	p.Run(n, fn)
}

// transpose writes the [cols, rows] transpose of the [rows, cols] matrix a
// into out, in tiles that stay in cache.
func transpose[T float](out, a []T, rows, cols int) {
	const tile = 32
	for r0 := 0; r0 < rows; r0 += tile {
		r1 := min(r0+tile, rows)
		for c0 := 0; c0 < cols; c0 += tile {
			c1 := min(c0+tile, cols)
			for r := r0; r < r1; r++ {
				for c := c0; c < c1; c++ {
					out[c*rows+r] = a[r*cols+c]
				}
			}
		}
	}
}

// addTo adds a to y elementwise.
func addTo[T float](y, a []T) {
	if yf, ok := any(y).([]float32); ok {
		af := any(a).([]float32)
		kernel.Add(yf, yf, af[:len(yf)])
		return
	}
	for i, v := range a[:len(y)] {
		y[i] += v
	}
}

// softmaxRow replaces x by its softmax and returns log Σ exp(x) (in float64
// from the row's max, so it never overflows or underflows).
func softmaxRow[T float](x []T) float64 {
	if xf, ok := any(x).([]float32); ok {
		return softmaxF32(xf)
	}
	return softmaxGo(x)
}

func softmaxGo[T float](x []T) float64 {
	if len(x) == 0 {
		return math.Inf(-1)
	}
	m := x[0]
	for _, v := range x {
		m = max(m, v)
	}
	var s T
	for i, v := range x {
		e := T(math.Exp(float64(v - m)))
		x[i] = e
		s += e
	}
	for i := range x {
		x[i] /= s
	}
	return float64(m) + math.Log(float64(s))
}

func sigmoid[T float](x T) T { return T(1 / (1 + math.Exp(-float64(x)))) }

// grow returns s resized to n elements, reusing its memory when it can.
func grow[T float](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

func zero[T float](s []T) { clear(s) }

// siluParts sets sg = sigmoid(gate) and act = silu(gate)·up.
func siluParts[T float](act, sg, gate, up []T) {
	if a, ok := any(act).([]float32); ok {
		siluPartsF32(a, any(sg).([]float32), any(gate).([]float32), any(up).([]float32))
		return
	}
	siluPartsGo(act, sg, gate, up)
}

func siluPartsGo[T float](act, sg, gate, up []T) {
	for i, g := range gate[:len(act)] {
		s := sigmoid(g)
		sg[i] = s
		act[i] = g * s * up[i]
	}
}

// siluBack sets the gradients of gate and up through act = silu(gate)·up
// given dact, with sg = sigmoid(gate) from the forward pass.
func siluBack[T float](dgate, dup, dact, gate, sg, up []T) {
	if d, ok := any(dgate).([]float32); ok {
		siluBackF32(d, any(dup).([]float32), any(dact).([]float32), any(gate).([]float32), any(sg).([]float32), any(up).([]float32))
		return
	}
	siluBackGo(dgate, dup, dact, gate, sg, up)
}

func siluBackGo[T float](dgate, dup, dact, gate, sg, up []T) {
	for i, d := range dact {
		g, s := gate[i], sg[i]
		dup[i] = d * g * s
		dgate[i] = d * up[i] * s * (1 + g*(1-s))
	}
}
