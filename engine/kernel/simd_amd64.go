//go:build goexperiment.simd && amd64

package kernel

import (
	"simd/archsimd"
	"unsafe"
)

// init switches to the AVX-512 kernels, or to the AVX2 ones, when the CPU
// has them. All MatMul paths of one set share one dot-product recipe.
func init() {
	switch {
	case archsimd.X86.AVX512():
		level = "avx512"
		f32Kernels = tileKernels[float32]{rows: 4, cols: 4, block: f32x16Block, rowTile: f32x16Row, one: f32x16One}
		bf16Kernels = tileKernels[uint16]{rows: 4, cols: 4, block: bf16x16Block, rowTile: bf16x16Row, one: bf16x16One}
		dotImpl = dot16
		axpyImpl = axpy16
		scaleImpl = scale16
		addImpl = add16
		mulImpl = mul16
		sumSqImpl = sumSq16
		siluMulImpl = siluMul16
		expSubImpl = expSub16
	case archsimd.X86.AVX2() && archsimd.X86.FMA():
		level = "avx2"
		f32Kernels = tileKernels[float32]{rows: 1, cols: 4, block: f32x8Block, rowTile: f32x8Row, one: f32x8One}
		dotImpl = f32x8One
	}
}

type (
	f16 = archsimd.Float32x16
	v16 = [16]float32
)

// at returns a pointer to s[i:i+16] without a bounds check; callers check
// the whole range they touch once, up front.
func at(s []float32, i int) *v16 {
	return (*v16)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(s)), uintptr(i)*4))
}

func atH(s []uint16, i int) *[16]uint16 {
	return (*[16]uint16)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(s)), uintptr(i)*2))
}

// load16 reads 16 floats at s[i:]; tail16 reads the last n-i < 16, zero-filled.
func load16(s []float32, i int) f16 { return archsimd.LoadFloat32x16(at(s, i)) }

func tail16(s []float32, i, n int) f16 {
	return archsimd.LoadMaskedFloat32x16(at(s, i), archsimd.Mask32x16FromBits(uint16(1)<<(n-i)-1))
}

// loadH16 widens 16 bfloat16 weights to float32 (exact: a bfloat16 is the
// top half of a float32).
func loadH16(s []uint16, i int) f16 {
	return archsimd.LoadUint16x16(atH(s, i)).ExtendToUint32().ShiftAllLeft(16).AsFloat32x16()
}

func tailH16(s []uint16, i, n int) f16 {
	return archsimd.LoadUint16x16SlicePart(s[i:n]).ExtendToUint32().ShiftAllLeft(16).AsFloat32x16()
}

// reduce16 is the one horizontal sum every AVX-512 dot product ends with:
// lanes i and i+8, then i and i+4, then pairs, then the last two.
func reduce16(v f16) float32 {
	s8 := v.GetLo().Add(v.GetHi())
	s4 := s8.GetLo().Add(s8.GetHi())
	s2 := s4.AddPairs(s4)
	return s2.GetElem(0) + s2.GetElem(1)
}

// The AVX-512 dot recipe: one 16-lane accumulator per dot, lane l sums the
// products of indices ≡ l (mod 16) in increasing order with FMA, the tail is
// a zero-filled 16-lane FMA, then reduce16.

func f32x16One(x, w []float32, n int) float32 {
	_, _ = x[:n], w[:n]
	var a f16
	k := 0
	for ; k+16 <= n; k += 16 {
		a = load16(x, k).MulAdd(load16(w, k), a)
	}
	if k < n {
		a = tail16(x, k, n).MulAdd(tail16(w, k, n), a)
	}
	return reduce16(a)
}

// f32x16Row computes out[c] = x · w_c for four weight rows.
func f32x16Row(out, x, w []float32, ldw, n int) {
	_, _, _ = out[:4], x[:n], w[:3*ldw+n]
	w1, w2, w3 := w[ldw:], w[2*ldw:], w[3*ldw:]
	var a0, a1, a2, a3 f16
	k := 0
	for ; k+16 <= n; k += 16 {
		xv := load16(x, k)
		a0 = xv.MulAdd(load16(w, k), a0)
		a1 = xv.MulAdd(load16(w1, k), a1)
		a2 = xv.MulAdd(load16(w2, k), a2)
		a3 = xv.MulAdd(load16(w3, k), a3)
	}
	if k < n {
		xv := tail16(x, k, n)
		a0 = xv.MulAdd(tail16(w, k, n), a0)
		a1 = xv.MulAdd(tail16(w1, k, n), a1)
		a2 = xv.MulAdd(tail16(w2, k, n), a2)
		a3 = xv.MulAdd(tail16(w3, k, n), a3)
	}
	out[0], out[1], out[2], out[3] = reduce16(a0), reduce16(a1), reduce16(a2), reduce16(a3)
}

// f32x16Block computes the 4×4 dots of four x rows with four w rows, loading
// each weight vector once for the four rows.
func f32x16Block(out []float32, ldo int, x []float32, ldx int, w []float32, ldw, n int) {
	_, _, _ = out[:3*ldo+4], x[:3*ldx+n], w[:3*ldw+n]
	x1, x2, x3 := x[ldx:], x[2*ldx:], x[3*ldx:]
	w1, w2, w3 := w[ldw:], w[2*ldw:], w[3*ldw:]
	var a00, a01, a02, a03, a10, a11, a12, a13 f16
	var a20, a21, a22, a23, a30, a31, a32, a33 f16
	k := 0
	for ; k+16 <= n; k += 16 {
		x0v, x1v, x2v, x3v := load16(x, k), load16(x1, k), load16(x2, k), load16(x3, k)
		wv := load16(w, k)
		a00, a10, a20, a30 = x0v.MulAdd(wv, a00), x1v.MulAdd(wv, a10), x2v.MulAdd(wv, a20), x3v.MulAdd(wv, a30)
		wv = load16(w1, k)
		a01, a11, a21, a31 = x0v.MulAdd(wv, a01), x1v.MulAdd(wv, a11), x2v.MulAdd(wv, a21), x3v.MulAdd(wv, a31)
		wv = load16(w2, k)
		a02, a12, a22, a32 = x0v.MulAdd(wv, a02), x1v.MulAdd(wv, a12), x2v.MulAdd(wv, a22), x3v.MulAdd(wv, a32)
		wv = load16(w3, k)
		a03, a13, a23, a33 = x0v.MulAdd(wv, a03), x1v.MulAdd(wv, a13), x2v.MulAdd(wv, a23), x3v.MulAdd(wv, a33)
	}
	if k < n {
		x0v, x1v, x2v, x3v := tail16(x, k, n), tail16(x1, k, n), tail16(x2, k, n), tail16(x3, k, n)
		wv := tail16(w, k, n)
		a00, a10, a20, a30 = x0v.MulAdd(wv, a00), x1v.MulAdd(wv, a10), x2v.MulAdd(wv, a20), x3v.MulAdd(wv, a30)
		wv = tail16(w1, k, n)
		a01, a11, a21, a31 = x0v.MulAdd(wv, a01), x1v.MulAdd(wv, a11), x2v.MulAdd(wv, a21), x3v.MulAdd(wv, a31)
		wv = tail16(w2, k, n)
		a02, a12, a22, a32 = x0v.MulAdd(wv, a02), x1v.MulAdd(wv, a12), x2v.MulAdd(wv, a22), x3v.MulAdd(wv, a32)
		wv = tail16(w3, k, n)
		a03, a13, a23, a33 = x0v.MulAdd(wv, a03), x1v.MulAdd(wv, a13), x2v.MulAdd(wv, a23), x3v.MulAdd(wv, a33)
	}
	o1, o2, o3 := out[ldo:], out[2*ldo:], out[3*ldo:]
	out[0], out[1], out[2], out[3] = reduce16(a00), reduce16(a01), reduce16(a02), reduce16(a03)
	o1[0], o1[1], o1[2], o1[3] = reduce16(a10), reduce16(a11), reduce16(a12), reduce16(a13)
	o2[0], o2[1], o2[2], o2[3] = reduce16(a20), reduce16(a21), reduce16(a22), reduce16(a23)
	o3[0], o3[1], o3[2], o3[3] = reduce16(a30), reduce16(a31), reduce16(a32), reduce16(a33)
}

// The BF16 twins: the same recipe with weights widened in registers.

func bf16x16One(x []float32, w []uint16, n int) float32 {
	_, _ = x[:n], w[:n]
	var a f16
	k := 0
	for ; k+16 <= n; k += 16 {
		a = load16(x, k).MulAdd(loadH16(w, k), a)
	}
	if k < n {
		a = tail16(x, k, n).MulAdd(tailH16(w, k, n), a)
	}
	return reduce16(a)
}

func bf16x16Row(out, x []float32, w []uint16, ldw, n int) {
	_, _, _ = out[:4], x[:n], w[:3*ldw+n]
	w1, w2, w3 := w[ldw:], w[2*ldw:], w[3*ldw:]
	var a0, a1, a2, a3 f16
	k := 0
	for ; k+16 <= n; k += 16 {
		xv := load16(x, k)
		a0 = xv.MulAdd(loadH16(w, k), a0)
		a1 = xv.MulAdd(loadH16(w1, k), a1)
		a2 = xv.MulAdd(loadH16(w2, k), a2)
		a3 = xv.MulAdd(loadH16(w3, k), a3)
	}
	if k < n {
		xv := tail16(x, k, n)
		a0 = xv.MulAdd(tailH16(w, k, n), a0)
		a1 = xv.MulAdd(tailH16(w1, k, n), a1)
		a2 = xv.MulAdd(tailH16(w2, k, n), a2)
		a3 = xv.MulAdd(tailH16(w3, k, n), a3)
	}
	out[0], out[1], out[2], out[3] = reduce16(a0), reduce16(a1), reduce16(a2), reduce16(a3)
}

func bf16x16Block(out []float32, ldo int, x []float32, ldx int, w []uint16, ldw, n int) {
	_, _, _ = out[:3*ldo+4], x[:3*ldx+n], w[:3*ldw+n]
	x1, x2, x3 := x[ldx:], x[2*ldx:], x[3*ldx:]
	w1, w2, w3 := w[ldw:], w[2*ldw:], w[3*ldw:]
	var a00, a01, a02, a03, a10, a11, a12, a13 f16
	var a20, a21, a22, a23, a30, a31, a32, a33 f16
	k := 0
	for ; k+16 <= n; k += 16 {
		x0v, x1v, x2v, x3v := load16(x, k), load16(x1, k), load16(x2, k), load16(x3, k)
		wv := loadH16(w, k)
		a00, a10, a20, a30 = x0v.MulAdd(wv, a00), x1v.MulAdd(wv, a10), x2v.MulAdd(wv, a20), x3v.MulAdd(wv, a30)
		wv = loadH16(w1, k)
		a01, a11, a21, a31 = x0v.MulAdd(wv, a01), x1v.MulAdd(wv, a11), x2v.MulAdd(wv, a21), x3v.MulAdd(wv, a31)
		wv = loadH16(w2, k)
		a02, a12, a22, a32 = x0v.MulAdd(wv, a02), x1v.MulAdd(wv, a12), x2v.MulAdd(wv, a22), x3v.MulAdd(wv, a32)
		wv = loadH16(w3, k)
		a03, a13, a23, a33 = x0v.MulAdd(wv, a03), x1v.MulAdd(wv, a13), x2v.MulAdd(wv, a23), x3v.MulAdd(wv, a33)
	}
	if k < n {
		x0v, x1v, x2v, x3v := tail16(x, k, n), tail16(x1, k, n), tail16(x2, k, n), tail16(x3, k, n)
		wv := tailH16(w, k, n)
		a00, a10, a20, a30 = x0v.MulAdd(wv, a00), x1v.MulAdd(wv, a10), x2v.MulAdd(wv, a20), x3v.MulAdd(wv, a30)
		wv = tailH16(w1, k, n)
		a01, a11, a21, a31 = x0v.MulAdd(wv, a01), x1v.MulAdd(wv, a11), x2v.MulAdd(wv, a21), x3v.MulAdd(wv, a31)
		wv = tailH16(w2, k, n)
		a02, a12, a22, a32 = x0v.MulAdd(wv, a02), x1v.MulAdd(wv, a12), x2v.MulAdd(wv, a22), x3v.MulAdd(wv, a32)
		wv = tailH16(w3, k, n)
		a03, a13, a23, a33 = x0v.MulAdd(wv, a03), x1v.MulAdd(wv, a13), x2v.MulAdd(wv, a23), x3v.MulAdd(wv, a33)
	}
	o1, o2, o3 := out[ldo:], out[2*ldo:], out[3*ldo:]
	out[0], out[1], out[2], out[3] = reduce16(a00), reduce16(a01), reduce16(a02), reduce16(a03)
	o1[0], o1[1], o1[2], o1[3] = reduce16(a10), reduce16(a11), reduce16(a12), reduce16(a13)
	o2[0], o2[1], o2[2], o2[3] = reduce16(a20), reduce16(a21), reduce16(a22), reduce16(a23)
	o3[0], o3[1], o3[2], o3[3] = reduce16(a30), reduce16(a31), reduce16(a32), reduce16(a33)
}
