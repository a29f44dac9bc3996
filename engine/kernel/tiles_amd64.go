//go:build goexperiment.simd && amd64

package kernel

import "simd/archsimd"

// Tile shapes: the Go register allocator gives SIMD values only Z0-Z14, so
// a tile keeps rows·cols accumulators plus rows x vectors and the weight
// vectors within 15 registers to avoid spills in the k loop.
const tileRows16, tileCols16 = 3, 2

// f32x16Block computes the 3×2 dots of 3 x rows with 2 w rows,
// loading each vector once for the whole tile.
func f32x16Block(out []float32, ldo int, x []float32, ldx int, w []float32, ldw, n int) {
	_, _, _ = out[:2*ldo+2], x[:2*ldx+n], w[:1*ldw+n]
	x1, x2 := x[ldx:], x[2*ldx:]
	w1 := w[ldw:]
	var a00, a01, a10, a11, a20, a21 f16
	k := 0
	for ; k+16 <= n; k += 16 {
		x0v, x1v, x2v := load16(x, k), load16(x1, k), load16(x2, k)
		wv := load16(w, k)
		a00, a10, a20 = x0v.MulAdd(wv, a00), x1v.MulAdd(wv, a10), x2v.MulAdd(wv, a20)
		wv = load16(w1, k)
		a01, a11, a21 = x0v.MulAdd(wv, a01), x1v.MulAdd(wv, a11), x2v.MulAdd(wv, a21)
	}
	if k < n {
		x0v, x1v, x2v := tail16(x, k, n), tail16(x1, k, n), tail16(x2, k, n)
		wv := tail16(w, k, n)
		a00, a10, a20 = x0v.MulAdd(wv, a00), x1v.MulAdd(wv, a10), x2v.MulAdd(wv, a20)
		wv = tail16(w1, k, n)
		a01, a11, a21 = x0v.MulAdd(wv, a01), x1v.MulAdd(wv, a11), x2v.MulAdd(wv, a21)
	}
	var r [6][4]float32
	reduce16(a00).Store(&r[0])
	reduce16(a01).Store(&r[1])
	reduce16(a10).Store(&r[2])
	reduce16(a11).Store(&r[3])
	reduce16(a20).Store(&r[4])
	reduce16(a21).Store(&r[5])
	archsimd.ClearAVXUpperBits()
	out[0], out[1] = r[0][0], r[1][0]
	o1 := out[ldo:]
	o1[0], o1[1] = r[2][0], r[3][0]
	o2 := out[2*ldo:]
	o2[0], o2[1] = r[4][0], r[5][0]
}

// f32x16Row computes the dots of one x row with 2 w rows.
func f32x16Row(out, x []float32, w []float32, ldw, n int) {
	_, _, _ = out[:2], x[:n], w[:1*ldw+n]
	w1 := w[ldw:]
	var a00, a01 f16
	k := 0
	for ; k+16 <= n; k += 16 {
		x0v := load16(x, k)
		wv := load16(w, k)
		a00 = x0v.MulAdd(wv, a00)
		wv = load16(w1, k)
		a01 = x0v.MulAdd(wv, a01)
	}
	if k < n {
		x0v := tail16(x, k, n)
		wv := tail16(w, k, n)
		a00 = x0v.MulAdd(wv, a00)
		wv = tail16(w1, k, n)
		a01 = x0v.MulAdd(wv, a01)
	}
	var r [2][4]float32
	reduce16(a00).Store(&r[0])
	reduce16(a01).Store(&r[1])
	archsimd.ClearAVXUpperBits()
	out[0], out[1] = r[0][0], r[1][0]
}

// bf16x16Block is f32x16Block with bfloat16 weights widened in registers.
func bf16x16Block(out []float32, ldo int, x []float32, ldx int, w []uint16, ldw, n int) {
	_, _, _ = out[:2*ldo+2], x[:2*ldx+n], w[:1*ldw+n]
	x1, x2 := x[ldx:], x[2*ldx:]
	w1 := w[ldw:]
	var a00, a01, a10, a11, a20, a21 f16
	k := 0
	for ; k+16 <= n; k += 16 {
		x0v, x1v, x2v := load16(x, k), load16(x1, k), load16(x2, k)
		wv := loadH16(w, k)
		a00, a10, a20 = x0v.MulAdd(wv, a00), x1v.MulAdd(wv, a10), x2v.MulAdd(wv, a20)
		wv = loadH16(w1, k)
		a01, a11, a21 = x0v.MulAdd(wv, a01), x1v.MulAdd(wv, a11), x2v.MulAdd(wv, a21)
	}
	if k < n {
		x0v, x1v, x2v := tail16(x, k, n), tail16(x1, k, n), tail16(x2, k, n)
		wv := tailH16(w, k, n)
		a00, a10, a20 = x0v.MulAdd(wv, a00), x1v.MulAdd(wv, a10), x2v.MulAdd(wv, a20)
		wv = tailH16(w1, k, n)
		a01, a11, a21 = x0v.MulAdd(wv, a01), x1v.MulAdd(wv, a11), x2v.MulAdd(wv, a21)
	}
	var r [6][4]float32
	reduce16(a00).Store(&r[0])
	reduce16(a01).Store(&r[1])
	reduce16(a10).Store(&r[2])
	reduce16(a11).Store(&r[3])
	reduce16(a20).Store(&r[4])
	reduce16(a21).Store(&r[5])
	archsimd.ClearAVXUpperBits()
	out[0], out[1] = r[0][0], r[1][0]
	o1 := out[ldo:]
	o1[0], o1[1] = r[2][0], r[3][0]
	o2 := out[2*ldo:]
	o2[0], o2[1] = r[4][0], r[5][0]
}

// bf16x16Row is f32x16Row with bfloat16 weights.
func bf16x16Row(out, x []float32, w []uint16, ldw, n int) {
	_, _, _ = out[:2], x[:n], w[:1*ldw+n]
	w1 := w[ldw:]
	var a00, a01 f16
	k := 0
	for ; k+16 <= n; k += 16 {
		x0v := load16(x, k)
		wv := loadH16(w, k)
		a00 = x0v.MulAdd(wv, a00)
		wv = loadH16(w1, k)
		a01 = x0v.MulAdd(wv, a01)
	}
	if k < n {
		x0v := tail16(x, k, n)
		wv := tailH16(w, k, n)
		a00 = x0v.MulAdd(wv, a00)
		wv = tailH16(w1, k, n)
		a01 = x0v.MulAdd(wv, a01)
	}
	var r [2][4]float32
	reduce16(a00).Store(&r[0])
	reduce16(a01).Store(&r[1])
	archsimd.ClearAVXUpperBits()
	out[0], out[1] = r[0][0], r[1][0]
}
