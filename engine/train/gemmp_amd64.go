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
