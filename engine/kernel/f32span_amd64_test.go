//go:build goexperiment.simd && amd64 && linux

package kernel

import (
	"math"
	"math/rand/v2"
	"simd/archsimd"
	"testing"
	"unsafe"
)

// f32Spans are the float32 lone-row sets under test: the span in use, and
// its strided and adjacent tiles on every range. They share the AVX2 set's
// recipe only: none at other levels.
func f32Spans() []tileKernels[float32] {
	if Level() != "avx2" {
		return nil
	}
	sets := []tileKernels[float32]{f32Kernels}
	for _, least := range []int{0, 1 << 40} { // always strided, never
		k := f32Kernels
		k.span = halfStreams[float32]{halfDotF32x1x8, halfDotF32x1x8s, least}.span
		sets = append(sets, k)
	}
	return sets
}

// f32Want is x·w[c*ldw:] by f32x8One, the AVX2 recipe, for 8 columns.
func f32Want(x, w []float32, ldw, n int) []float32 {
	want := make([]float32, 8)
	for c := range want {
		want[c] = f32x8One(x, w[c*ldw:c*ldw+n], n)
	}
	return want
}

// TestF32SpanEqualsTile: the F32 decode tiles give every output the bits
// of the AVX2 float32 recipe, on every dot length (tails of each size) and
// row stride, and MatMul gives the same bits with the span, serial or on
// a pool, as with the 1×8 tile alone.
func TestF32SpanEqualsTile(t *testing.T) {
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() {
		t.Skip("no AVX2 and FMA")
	}
	rng := rand.New(rand.NewPCG(17, 18))
	tiles := []halfDot[float32]{halfDotF32x1x8, halfDotF32x1x8s}
	for _, n := range []int{8, 9, 15, 16, 24, 31, 32, 33, 39, 40, 63, 64, 65, 100, 767, 768, 777, 2048, 2053} {
		for _, pad := range []int{0, 1, 8} {
			ldw := n + pad
			x, w := randVec(rng, n), randVec(rng, 7*ldw+n)
			x[rng.IntN(n)] = float32(math.Copysign(0, -1))
			w[rng.IntN(len(w))] = float32(math.Copysign(0, -1))
			want := f32Want(x, w, ldw, n)
			for i, tile := range tiles {
				got := make([]float32, 8)
				tile(&got[0], 1, &x[0], &w[0], ldw, n, 4*n)
				for c := range got {
					if !sameBits(got[c], want[c]) {
						t.Fatalf("tile %d n=%d ldw=%d col %d: %g, recipe %g", i, n, ldw, c, got[c], want[c])
					}
				}
			}
		}
	}
	f32 := f32Kernels
	defer func() { f32Kernels = f32 }()
	for _, shape := range [][2]int{{768, 13}, {33, 777}, {8, 9}, {2048, 31}, {5, 8}, {100, 17}, {768, 1}, {768, 203}, {24, 1000}, {9, 64}} {
		in, outDim := shape[0], shape[1]
		x, w := randVec(rng, in), randVec(rng, outDim*in)
		for _, p := range pools(t) {
			f32Kernels = f32
			f32Kernels.span = nil
			want := make([]float32, outDim)
			MatMul(p, want, x, w, 1, in, outDim)
			for _, k := range f32Spans() {
				f32Kernels = k
				got := make([]float32, outDim)
				MatMul(p, got, x, w, 1, in, outDim)
				for c := range want {
					if !sameBits(got[c], want[c]) {
						t.Fatalf("in=%d out=%d col %d: %g with the span, %g without", in, outDim, c, got[c], want[c])
					}
				}
			}
		}
	}
}

// TestF32SpanReadsInBounds: with the weights and x ending where a page
// that cannot be read begins, every tail length works: the tail's masked
// loads read no byte past a row.
func TestF32SpanReadsInBounds(t *testing.T) {
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() {
		t.Skip("no AVX2 and FMA")
	}
	rng := rand.New(rand.NewPCG(19, 20))
	mem, page := guardedPages(t)
	for n := 8; n <= 40; n++ {
		ws := unsafe.Slice((*float32)(unsafe.Pointer(&mem[0])), page/4)
		xs := unsafe.Slice((*float32)(unsafe.Pointer(&mem[2*page])), page/4)
		w, x := ws[len(ws)-8*n:], xs[len(xs)-n:]
		copy(w, randVec(rng, 8*n))
		copy(x, randVec(rng, n))
		want := f32Want(x, w, n, n)
		for i, tile := range []halfDot[float32]{halfDotF32x1x8, halfDotF32x1x8s} {
			got := make([]float32, 8)
			tile(&got[0], 1, &x[0], &w[0], n, n, 4*n)
			for c := range got {
				if !sameBits(got[c], want[c]) {
					t.Fatalf("tile %d n=%d col %d: %g, recipe %g", i, n, c, got[c], want[c])
				}
			}
		}
	}
}
