//go:build goexperiment.simd && amd64 && linux

package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"simd/archsimd"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/graft-ai/graft/engine/float16"
)

// halfSet is one lone-row half kernel set under test, with the archsimd
// one it must equal bit for bit.
type halfSet struct {
	name     string
	old, new tileKernels[uint16]
	rand     func(*rand.Rand, int) []uint16
}

func halfSets(t *testing.T) []halfSet {
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() || !hasF16C() {
		t.Skip("no AVX2, FMA and F16C")
	}
	sets := []halfSet{
		{"F16", f16x8Kernels, withWide(f16x8Kernels, f16x8Wide), randHalfEdges(randF16)},
		{"BF16", bf16x8Kernels, withWide(bf16x8Kernels, bf16x8Wide), randHalfEdges(randBF16)},
	}
	// the span in use, and its strided and adjacent tiles on every range
	for _, least := range []int{-1, 0, 1 << 40} { // in use, always strided, never
		f, b := f16Kernels, bf16Kernels
		if least < 0 && (f.span == nil || b.span == nil || level == "avx512") {
			continue // GRAFT_KERNEL_LEVEL=portable, or the 16-lane sets (halfSets16)
		}
		if least >= 0 {
			f = withSpan(f16x8Kernels, f16x8Wide, halfStreams[uint16]{halfDotF16x1x8, halfDotF16x1x8s, least})
			b = withSpan(bf16x8Kernels, bf16x8Wide, halfStreams[uint16]{halfDotBF16x1x8, halfDotBF16x1x8s, least})
		}
		sets = append(sets, halfSet{"F16", f16x8Kernels, f, randHalfEdges(randF16)},
			halfSet{"BF16", bf16x8Kernels, b, randHalfEdges(randBF16)})
	}
	return append(sets, halfSets16()...)
}

// halfSets16 is the AVX-512 16-lane tiles, adjacent, strided and in their
// span, against the archsimd 16-lane recipe (F16 widened, then f32x16One).
func halfSets16() []halfSet {
	if !archsimd.X86.AVX512() {
		return nil
	}
	f16Ref := tileKernels[uint16]{rows: 1, cols: 1, one: func(x []float32, w []uint16, n int) float32 {
		wf := make([]float32, n)
		float16.F16ToF32(wf, w)
		return f32x16One(x, wf, n)
	}}
	f16Ref.tile = []func([]float32, int, []float32, int, []uint16, int, int){
		func(out []float32, _ int, x []float32, _ int, w []uint16, _, n int) { out[0] = f16Ref.one(x, w, n) }}
	bf16Ref := tileKernels[uint16]{rows: tileRows16, cols: tileCols16,
		tile: stackRows(tileRows16, bf16x16Block, bf16x16RowTile), one: bf16x16One}
	sets := []halfSet{
		{"F16z", f16Ref, withWide(f16x16Kernels, f16x16Wide), randHalfEdges(randF16)},
		{"BF16z", bf16Ref, withWide(bf16Ref, bf16x16Wide), randHalfEdges(randBF16)},
	}
	if level == "avx512" { // the sets in use
		sets = append(sets, halfSet{"F16z", f16Ref, f16Kernels, randHalfEdges(randF16)},
			halfSet{"BF16z", bf16Ref, bf16Kernels, randHalfEdges(randBF16)})
	}
	for _, least := range []int{0, 1 << 40} { // always strided, never
		sets = append(sets,
			halfSet{"F16z", f16Ref, withSpan(f16x16Kernels, f16x16Wide, halfStreams[uint16]{halfDotF16x1x8z, halfDotF16x1x8zs, least}), randHalfEdges(randF16)},
			halfSet{"BF16z", bf16Ref, withSpan(bf16Ref, bf16x16Wide, halfStreams[uint16]{halfDotBF16x1x8z, halfDotBF16x1x8zs, least}), randHalfEdges(randBF16)})
	}
	return sets
}

// randHalfEdges adds signed zeros to random weights, so that accumulators
// that stay -0 show whether a zero-filled tail adds +0 as the old one did.
func randHalfEdges(f func(*rand.Rand, int) []uint16) func(*rand.Rand, int) []uint16 {
	return func(rng *rand.Rand, n int) []uint16 {
		w := f(rng, n)
		for i := range w {
			switch rng.IntN(16) {
			case 0:
				w[i] = 0
			case 1:
				w[i] = 0x8000
			}
		}
		return w
	}
}

// TestHalfDotEqualsArchsimd: the assembly decode tile gives, for every
// output, the bits of the archsimd tile it replaces, on every dot length
// (tails of each size), row stride and odd column count, and MatMulF16 and
// MatMulBF16 give the same bits with either set, serial or on a pool.
func TestHalfDotEqualsArchsimd(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 16))
	for _, s := range halfSets(t) {
		for _, n := range []int{1, 7, 8, 9, 15, 16, 24, 31, 32, 33, 39, 40, 63, 64, 65, 100, 767, 768, 777, 2048, 2053} {
			for _, pad := range []int{0, 1, 8} {
				ldw := n + pad
				x, w := randVec(rng, n), s.rand(rng, 7*ldw+n)
				if n > 1 {
					x[rng.IntN(n)] = float32(math.Copysign(0, -1))
				}
				got := make([]float32, 8)
				s.new.wide(got, x, w, ldw, n)
				for c := range 8 {
					want := s.old.one(x, w[c*ldw:c*ldw+n], n)
					if math.Float32bits(got[c]) != math.Float32bits(want) {
						t.Fatalf("%s n=%d ldw=%d col %d: %g (%#x), archsimd %g (%#x)",
							s.name, n, ldw, c, got[c], math.Float32bits(got[c]), want, math.Float32bits(want))
					}
				}
			}
		}
		for _, shape := range [][2]int{{768, 13}, {33, 777}, {8, 9}, {2048, 31}, {5, 8}, {100, 17}, {768, 1}, {768, 203}, {24, 1000}, {9, 64}} {
			in, outDim := shape[0], shape[1]
			x, w := randVec(rng, in), s.rand(rng, outDim*in)
			for _, p := range pools(t) {
				want, got := matMulHalfWith(t, s.name, s.old, p, x, w, in, outDim), matMulHalfWith(t, s.name, s.new, p, x, w, in, outDim)
				for c := range want {
					if math.Float32bits(got[c]) != math.Float32bits(want[c]) {
						t.Fatalf("%s in=%d out=%d col %d: %g, archsimd %g", s.name, in, outDim, c, got[c], want[c])
					}
				}
			}
		}
	}
}

func matMulHalfWith(t *testing.T, name string, k tileKernels[uint16], p *Pool, x []float32, w []uint16, in, outDim int) []float32 {
	f16, bf16 := f16Kernels, bf16Kernels
	defer func() { f16Kernels, bf16Kernels = f16, bf16 }()
	out := make([]float32, outDim)
	if strings.HasPrefix(name, "F16") {
		f16Kernels = k
		MatMulF16(p, out, x, w, 1, in, outDim)
	} else {
		bf16Kernels = k
		MatMulBF16(p, out, x, w, 1, in, outDim)
	}
	return out
}

// guardedPages maps four pages of which the second and the fourth cannot
// be read, so that data ending at the first or the third ends where a read
// past it faults; the test's cleanup unmaps them.
func guardedPages(t *testing.T) (mem []byte, page int) {
	page = syscall.Getpagesize()
	mem, err := syscall.Mmap(-1, 0, 4*page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skip("mmap:", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	for _, i := range []int{1, 3} {
		if err := syscall.Mprotect(mem[i*page:(i+1)*page], syscall.PROT_NONE); err != nil {
			t.Skip("mprotect:", err)
		}
	}
	return mem, page
}

// TestHalfDotReadsInBounds: with the weights and x ending where a page
// that cannot be read begins, every tail length still works (the tile
// reads no byte past a row; its prefetches past the end do not fault).
func TestHalfDotReadsInBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	mem, page := guardedPages(t)
	for _, s := range halfSets(t) {
		for n := 1; n <= 40; n++ {
			if n < 8 && !strings.HasSuffix(s.name, "z") {
				continue // the AVX2 tiles take n >= 8
			}
			halves := unsafe.Slice((*uint16)(unsafe.Pointer(&mem[0])), page/2)
			floats := unsafe.Slice((*float32)(unsafe.Pointer(&mem[2*page])), page/4)
			w, x := halves[len(halves)-8*n:], floats[len(floats)-n:]
			copy(w, s.rand(rng, 8*n))
			copy(x, randVec(rng, n))
			got := make([]float32, 8)
			s.new.wide(got, x, w, n, n)
			for c := range 8 {
				if want := s.old.one(x, w[c*n:(c+1)*n], n); math.Float32bits(got[c]) != math.Float32bits(want) {
					t.Fatal(fmt.Sprintf("%s n=%d col %d: %g, archsimd %g", s.name, n, c, got[c], want))
				}
			}
		}
	}
}

// The benchmarks compare the archsimd tiles, the adjacent assembly tile
// alone (adjacent, the tile before the strided one), the strided one on
// every eighth (strided-min0) or on eighths of 12 KiB and more (min12K),
// and the set in use (streams).
func init() {
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() || !hasF16C() {
		return
	}
	span := func(name string, min int) halfKernels {
		return halfKernels{name,
			withSpan(f16x8Kernels, f16x8Wide, halfStreams[uint16]{halfDotF16x1x8, halfDotF16x1x8s, min}),
			withSpan(bf16x8Kernels, bf16x8Wide, halfStreams[uint16]{halfDotBF16x1x8, halfDotBF16x1x8s, min})}
	}
	halfKernelSets = func() []halfKernels {
		return []halfKernels{
			{"archsimd", f16x8Kernels, bf16x8Kernels},
			span("adjacent", 1<<40), span("strided-min0", 0), span("min12K", 12<<10), span("streams", halfMinStream),
		}
	}
}
