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
