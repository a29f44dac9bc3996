//go:build goexperiment.simd && amd64

package kernel

//go:generate python3 gen_tiles.py 3 2
//go:generate python3 gen_asm.py 6 4 8
//go:generate python3 gen_asm_avx2.py 3 4 8
//go:generate gofmt -w tiles_amd64.go f32tiles_amd64.go f32tiles8_amd64.go

import (
	"log/slog"
	"os"
	"simd/archsimd"
	"unsafe"
)

// init switches to the AVX-512 kernels, or to the AVX2 ones, when the CPU
// has them and GRAFT_KERNEL_LEVEL does not cap the level. All MatMul paths of
// one set share one dot-product recipe.
func init() {
	limit := levelLimit()
	switch {
	case archsimd.X86.AVX512() && limit >= 2:
		useAVX512()
	case archsimd.X86.AVX2() && archsimd.X86.FMA() && limit >= 1:
		useAVX2()
	}
}

func useAVX512() {
	level = "avx512"
	widenBF16Panel, widenF16Panel = widenBF16x8Panel, widenF16x8Panel
	f32Kernels = tileKernels[float32]{rows: f32Rows16, cols: f32Cols16, tile: f32x16Tiles,
		wideCols: f32Wide16, wide: f32x16Wide, one: f32x16One}
	bf16Kernels = tileKernels[uint16]{rows: tileRows16, cols: tileCols16,
		tile: stackRows(tileRows16, bf16x16Block, bf16x16RowTile), one: bf16x16One}
	useDequantAVX2()
	useDeq2AVX2()
	dotImpl = dot16
	axpyImpl = axpy16
	scaleImpl = scale16
	addImpl = add16
	mulImpl = mul16
	sumSqImpl = sumSq16
	siluMulImpl = siluMul16
	expSubImpl = expSub16
	maxImpl = max16
	unpairImpl = unpair8
	useExpandAVX512()
	useHalfDotAVX512()
}

func useAVX2() {
	level = "avx2"
	widenBF16Panel, widenF16Panel = widenBF16x8Panel, widenF16x8Panel
	f32Kernels = tileKernels[float32]{rows: f32Rows8, cols: f32Cols8, tile: f32x8Tiles,
		wideCols: f32Wide8, wide: f32x8Wide, one: f32x8One}
	bf16Kernels = bf16x8Kernels
	f16Kernels = f16x8Kernels
	useHalfDotAVX2()
	useDequantAVX2()
	useDeq2AVX2()
	useQDotAVX2()
	useVec8()
	dotImpl = f32x8One
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
	// SlicePart, not a masked load through a 16-float pointer: such a pointer
	// would reach past the allocation, which unsafe's rules (and checkptr) forbid.
	return archsimd.LoadFloat32x16SlicePart(s[i:n])
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
// lanes i and i+8, then i and i+4, then pairs twice; lane 0 of the result
// holds the sum. It stays in vector registers: a scalar float instruction
// here would be a legacy-SSE one, which pays an AVX-SSE transition while the
// upper register halves are dirty.
func reduce16(v f16) archsimd.Float32x4 {
	s8 := v.GetLo().Add(v.GetHi())
	s4 := s8.GetLo().Add(s8.GetHi())
	s2 := s4.AddPairs(s4)
	return s2.AddPairs(s2)
}

// Every exported-path kernel ends with ClearAVXUpperBits (VZEROUPPER): on
// Intel cores, legacy-SSE code that runs while the upper halves are dirty
// (math.Exp, the runtime) was measured 60× slower here.

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
	var r [4]float32
	reduce16(a).Store(&r)
	archsimd.ClearAVXUpperBits()
	return r[0]
}

func bf16x16RowTile(out []float32, _ int, x []float32, _ int, w []uint16, ldw, n int) {
	bf16x16Row(out, x, w, ldw, n)
}

// The BF16 twin: the same recipe with weights widened in registers.

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
	var r [4]float32
	reduce16(a).Store(&r)
	archsimd.ClearAVXUpperBits()
	return r[0]
}

// hasVNNI512 reports whether the CPU and GRAFT_KERNEL_LEVEL allow the
// AVX-512 VNNI twins of the integer dots.
func hasVNNI512() bool {
	return archsimd.X86.AVX512() && archsimd.X86.AVX512VNNI() && levelLimit() >= 2
}

// hasGFNI512 reports whether the AVX-512 kernels that take bit fields with
// GFNI's VGF2P8AFFINEQB (on registers only EVEX reaches) may run; packed
// Q6_K's also sums with VNNI's VPDPWSSD, which every CPU with AVX-512 GFNI
// has, but which is checked all the same.
func hasGFNI512() bool {
	return hasVNNI512() && archsimd.X86.AVX512GFNI()
}

// levelLimit reads GRAFT_KERNEL_LEVEL, which caps the kernel set below what
// the CPU offers: 0 portable, 1 avx2, 2 avx512 (the default, no cap). It lets
// one machine run, and test, the kernels another machine would pick.
func levelLimit() int {
	switch os.Getenv("GRAFT_KERNEL_LEVEL") {
	case "portable":
		return 0
	case "avx2":
		return 1
	case "", "avx512":
		return 2
	}
	slog.Warn("kernel: GRAFT_KERNEL_LEVEL is not portable, avx2 or avx512; not capping", "value", os.Getenv("GRAFT_KERNEL_LEVEL"))
	return 2
}
