//go:build goexperiment.simd && amd64

package kernel

//go:generate python3 gen_dotq.py
//go:generate gofmt -w dotq_amd64.go

// useQDotAVX2 turns on the fused decode-and-dot kernels (dotq_amd64.s) for
// up to qdotMaxRows activation rows. They follow the AVX2 float32 recipe,
// so they serve only beside the AVX2 tiles (the AVX-512 ones sum 16 lanes),
// and widen block scales with F16C's VCVTPH2PS.
func useQDotAVX2() {
	if !hasF16C() {
		return
	}
	for t, k := range qdotAVX2 {
		qdotKernels[t] = k
	}
}

// useDeq2AVX2 installs the panel decoders that gen_dotq.py makes from the
// fused kernels' bodies (formats with no hand-scheduled one), exact like
// every decoder; they too widen scales with VCVTPH2PS.
func useDeq2AVX2() {
	if !hasF16C() {
		return
	}
	for t, f := range deq2AVX2 {
		bs, bb := t.BlockSize(), t.BlockBytes()
		dequantizers[t] = func(dst []float32, src []byte) {
			nb := len(dst) / bs
			if nb == 0 {
				return
			}
			_, _ = dst[:nb*bs], src[:nb*bb]
			f(&dst[0], &src[0], nb)
		}
	}
}
