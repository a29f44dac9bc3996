//go:build goexperiment.simd && amd64

package train

import "unsafe"

//go:noescape
func tileKernel(out *float32, ldo int, a *float32, rs, ts int, b *float32, k int, acc int)

// tile6 is the AVX2 tile: 6 rows of out (+)= A·panel.
func tile6(out []float32, ldo int, a []float32, rs, ts int, b []float32, k int, acc bool) {
	_, _ = out[:5*ldo+panelW], b[:k*panelW]
	if k > 0 {
		_ = a[5*rs+(k-1)*ts]
	}
	ac := 0
	if acc {
		ac = 1
	}
	tileKernel(unsafe.SliceData(out), ldo, unsafe.SliceData(a), rs, ts, unsafe.SliceData(b), k, ac)
}

// copy16 copies 16 floats with two vector moves (copy's call costs more).
func copy16(dst, src []float32) {
	_, _ = dst[:16], src[:16]
	st8(ld8(src, 0), dst, 0)
	st8(ld8(src, 8), dst, 8)
}

// tilesAVX is tilesGo with one bounds check for all the tiles and direct
// calls of the kernel: per tile, Go's slicing cost as much as a short k.
func tilesAVX(out []float32, ldo int, a matA, b []float32, r0, n, k0, k int, acc bool, sh shape) {
	if n == 0 {
		return
	}
	rl := r0 + n*tileRows - 1 // the last row
	_, _ = out[:(n*tileRows-1)*ldo+panelW], b[:(k0+k)*panelW]
	if k > 0 {
		_ = a.a[rl*a.rs+(k0+k-1)*a.ts]
	}
	ac := 0
	if acc {
		ac = 1
	}
	op, ap, bp := unsafe.Pointer(unsafe.SliceData(out)), unsafe.Pointer(unsafe.SliceData(a.a)), unsafe.Pointer(unsafe.SliceData(b))
	for i := 0; i < n; i++ {
		r := r0 + i*tileRows
		lo, kk := kRange(sh, r, k0, k)
		tileKernel((*float32)(unsafe.Add(op, i*tileRows*ldo*4)), ldo, (*float32)(unsafe.Add(ap, (r*a.rs+lo*a.ts)*4)), a.rs, a.ts,
			(*float32)(unsafe.Add(bp, lo*panelW*4)), kk, ac)
	}
}
