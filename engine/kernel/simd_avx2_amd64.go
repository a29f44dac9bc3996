//go:build goexperiment.simd && amd64

package kernel

import "simd/archsimd"

// The AVX2 dot recipe, for CPUs without AVX-512: one 8-lane accumulator per
// dot, a zero-filled 8-lane FMA for the tail, then reduce8. The float32
// tiles are assembly (f32tiles8_amd64.s: up to 3 x rows by 4 weight rows, 1
// by 8 for decode); the half-precision decode tiles (halfdot_amd64.s: one x
// row by eight weight rows, archsimd ones by four for short dots) widen each
// weight exactly within the same recipe, so narrow weights give the bits
// widened ones would.

type f8 = archsimd.Float32x8

func load8(s []float32, i int) f8 { return archsimd.LoadFloat32x8((*[8]float32)(at(s, i)[:8])) }

func tail8(s []float32, i, n int) f8 { return archsimd.LoadFloat32x8SlicePart(s[i:n]) }

func loadH8(s []uint16, i int) f8 {
	return archsimd.LoadUint16x8((*[8]uint16)(atH(s, i)[:8])).ExtendToUint32().ShiftAllLeft(16).AsFloat32x8()
}

func tailH8(s []uint16, i, n int) f8 {
	return archsimd.LoadUint16x8SlicePart(s[i:n]).ExtendToUint32().ShiftAllLeft(16).AsFloat32x8()
}

func reduce8(v f8) archsimd.Float32x4 {
	s4 := v.GetLo().Add(v.GetHi())
	s2 := s4.AddPairs(s4)
	return s2.AddPairs(s2)
}

func f32x8One(x, w []float32, n int) float32 {
	_, _ = x[:n], w[:n]
	var a f8
	k := 0
	for ; k+8 <= n; k += 8 {
		a = load8(x, k).MulAdd(load8(w, k), a)
	}
	if k < n {
		a = tail8(x, k, n).MulAdd(tail8(w, k, n), a)
	}
	var r [4]float32
	reduce8(a).Store(&r)
	archsimd.ClearAVXUpperBits()
	return r[0]
}

func bf16x8One(x []float32, w []uint16, n int) float32 {
	_, _ = x[:n], w[:n]
	var a f8
	k := 0
	for ; k+8 <= n; k += 8 {
		a = load8(x, k).MulAdd(loadH8(w, k), a)
	}
	if k < n {
		a = tail8(x, k, n).MulAdd(tailH8(w, k, n), a)
	}
	var r [4]float32
	reduce8(a).Store(&r)
	archsimd.ClearAVXUpperBits()
	return r[0]
}

func bf16x8Row(out, x []float32, w []uint16, ldw, n int) {
	_, _, _ = out[:4], x[:n], w[:3*ldw+n]
	w1, w2, w3 := w[ldw:], w[2*ldw:], w[3*ldw:]
	var a0, a1, a2, a3 f8
	k := 0
	for ; k+8 <= n; k += 8 {
		xv := load8(x, k)
		a0 = xv.MulAdd(loadH8(w, k), a0)
		a1 = xv.MulAdd(loadH8(w1, k), a1)
		a2 = xv.MulAdd(loadH8(w2, k), a2)
		a3 = xv.MulAdd(loadH8(w3, k), a3)
	}
	if k < n {
		xv := tail8(x, k, n)
		a0 = xv.MulAdd(tailH8(w, k, n), a0)
		a1 = xv.MulAdd(tailH8(w1, k, n), a1)
		a2 = xv.MulAdd(tailH8(w2, k, n), a2)
		a3 = xv.MulAdd(tailH8(w3, k, n), a3)
	}
	var r [4][4]float32
	reduce8(a0).Store(&r[0])
	reduce8(a1).Store(&r[1])
	reduce8(a2).Store(&r[2])
	reduce8(a3).Store(&r[3])
	archsimd.ClearAVXUpperBits()
	out[0], out[1], out[2], out[3] = r[0][0], r[1][0], r[2][0], r[3][0]
}

func bf16x8Block(out []float32, _ int, x []float32, _ int, w []uint16, ldw, n int) {
	bf16x8Row(out, x, w, ldw, n)
}
