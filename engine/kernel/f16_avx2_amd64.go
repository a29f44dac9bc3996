//go:build goexperiment.simd && amd64

package kernel

//go:generate python3 gen_halfdot.py

import (
	"simd/archsimd"
	"unsafe"

	"github.com/graft-ai/graft/engine/float16"
)

// IEEE half weights on the AVX2 recipe (used at the AVX-512 level too: the
// set has no 16-lane F16 tiles). There is no VCVTPH2PS in archsimd, so a half
// is widened with integer moves: sign-extended to 32 bits, its exponent and
// mantissa shifted into float32 position with the sign kept, then scaled by
// 2^112, which is exact for every finite half, subnormals included. Inf and
// NaN halves would widen to wrong finite values: weights are checked finite
// on load (gguf.CheckScales), as ggml_validate_row_data does.

func widenF16x8(h archsimd.Uint16x8) f8 {
	v := h.AsInt16x8().ExtendToInt32().ShiftAllLeft(13).And(archsimd.BroadcastInt32x8(-0x70002000))
	return v.AsFloat32x8().Mul(archsimd.BroadcastFloat32x8(0x1p112))
}

func loadF8(s []uint16, i int) f8 {
	return widenF16x8(archsimd.LoadUint16x8((*[8]uint16)(atH(s, i)[:8])))
}

func tailF8(s []uint16, i, n int) f8 { return widenF16x8(archsimd.LoadUint16x8SlicePart(s[i:n])) }

func f16x8One(x []float32, w []uint16, n int) float32 {
	_, _ = x[:n], w[:n]
	var a f8
	k := 0
	for ; k+8 <= n; k += 8 {
		a = load8(x, k).MulAdd(loadF8(w, k), a)
	}
	if k < n {
		a = tail8(x, k, n).MulAdd(tailF8(w, k, n), a)
	}
	var r [4]float32
	reduce8(a).Store(&r)
	archsimd.ClearAVXUpperBits()
	return r[0]
}

func f16x8Block(out []float32, _ int, x []float32, _ int, w []uint16, ldw, n int) {
	_, _, _ = out[:4], x[:n], w[:3*ldw+n]
	w1, w2, w3 := w[ldw:], w[2*ldw:], w[3*ldw:]
	var a0, a1, a2, a3 f8
	k := 0
	for ; k+8 <= n; k += 8 {
		xv := load8(x, k)
		a0 = xv.MulAdd(loadF8(w, k), a0)
		a1 = xv.MulAdd(loadF8(w1, k), a1)
		a2 = xv.MulAdd(loadF8(w2, k), a2)
		a3 = xv.MulAdd(loadF8(w3, k), a3)
	}
	if k < n {
		xv := tail8(x, k, n)
		a0 = xv.MulAdd(tailF8(w, k, n), a0)
		a1 = xv.MulAdd(tailF8(w1, k, n), a1)
		a2 = xv.MulAdd(tailF8(w2, k, n), a2)
		a3 = xv.MulAdd(tailF8(w3, k, n), a3)
	}
	var r [4][4]float32
	reduce8(a0).Store(&r[0])
	reduce8(a1).Store(&r[1])
	reduce8(a2).Store(&r[2])
	reduce8(a3).Store(&r[3])
	archsimd.ClearAVXUpperBits()
	out[0], out[1], out[2], out[3] = r[0][0], r[1][0], r[2][0], r[3][0]
}

// The archsimd half sets: 1×4 tiles for every row count, with which the
// AVX-512 level also takes F16.
var (
	f16x8Kernels = tileKernels[uint16]{rows: 1, cols: 4,
		tile: []func([]float32, int, []float32, int, []uint16, int, int){f16x8Block}, one: f16x8One}
	bf16x8Kernels = tileKernels[uint16]{rows: 1, cols: 4,
		tile: []func([]float32, int, []float32, int, []uint16, int, int){bf16x8Block}, one: bf16x8One}
)

// useHalfDotAVX2 gives the AVX2 half sets the assembly decode tiles of
// halfdot_amd64.s for a lone row: the same bits as the archsimd tiles, read
// from memory as eight streams per core (halfStreams). The float32 set
// takes the F32 ones for its span: its own 1×8 tile reads 8 adjacent rows
// as one 24 KiB window too (graft bench engine --weights f32, dec1
// alternated four times: 69.9-74.5 tok/s, 81-104% of the bound, against
// 60.0-74.4, 75-89%).
func useHalfDotAVX2() {
	bf16Kernels = withSpan(bf16x8Kernels, bf16x8Wide, halfStreams[uint16]{halfDotBF16x1x8, halfDotBF16x1x8s, halfMinStream})
	if hasF16C() {
		f16Kernels = withSpan(f16x8Kernels, f16x8Wide, halfStreams[uint16]{halfDotF16x1x8, halfDotF16x1x8s, halfMinStream})
	}
	f32Kernels.span = halfStreams[float32]{halfDotF32x1x8, halfDotF32x1x8s, halfMinStream}.span
}

func withWide(k tileKernels[uint16], wide func(out, x []float32, w []uint16, ldw, n int)) tileKernels[uint16] {
	k.wideCols, k.wide = 8, wide
	return k
}

func withSpan(k tileKernels[uint16], wide func(out, x []float32, w []uint16, ldw, n int), s halfStreams[uint16]) tileKernels[uint16] {
	k = withWide(k, wide)
	k.span = s.span
	return k
}

// halfAhead is how many rows beyond its own a tile that reads adjacent rows
// prefetches into L1 (and twice as many into L2): the tile two calls on
// (gen_halfdot.py says how it was chosen).
const halfAhead = 16

// halfDot is a tile of halfdot_amd64.s.
type halfDot[W float32 | uint16] func(out *float32, ldo int, x *float32, w *W, ldw, n, pf int)

// halfStreams reads a lone row's column range as eight streams (of halves
// or, with W float32, of F32 weights): each tile
// takes one row from each eighth of the range. A tile of 8 adjacent rows
// reads one 12 KiB window (F16 rows of 768) as it moves through memory,
// and that reached only about two thirds of the GB/s of the F32 tile,
// whose 8 rows span twice the bytes; 8 windows far apart keep more misses
// in flight and read the halves as fast as F32 reads (BenchmarkDecodeHalf/
// paired: about 1.6x the adjacent tile on the 2-core EPYC host, as
// streamRow.row found with four streams for K-quants). Software prefetch
// slowed the strided tile (by 14-28% at 1, 2 and 4 rows ahead in each
// stream), so it has none. Eighths shorter than min bytes (the last small
// chunks of a Run) are read with the adjacent tile. Each output is one
// tile's dot either way, so the bits do not change.
type halfStreams[W float32 | uint16] struct {
	adjacent, strided halfDot[W]
	min               int
}

// halfMinStream is the shortest eighth, in bytes, read as a stream of its
// own: two rows of 768 halves. Measured in BenchmarkDecodeHalf/paired on 2
// threads, 0 and 3 KiB read alike, 6 KiB 5% and 12 KiB 8% slower (more of
// the small last chunks of a Run then go to the adjacent tile).
const halfMinStream = 3 << 10

// span computes out[c] = x·w[c*n:c*n+n] for c below a multiple of 8 and
// returns how many it did (none for n < 8: the tiles read each row's last 8
// halves).
func (s halfStreams[W]) span(out, x []float32, w []W, n int) int {
	cols := len(out)
	if n < 8 || cols < 8 {
		return 0
	}
	_, _ = x[:n], w[:cols*n]
	var z W
	eb := int(unsafe.Sizeof(z))
	c := 0
	if q := cols / 8; eb*q*n >= s.min {
		for i := range q {
			s.strided(&out[i], q, &x[0], &w[i*n], q*n, n, 0)
		}
		c = 8 * q
	}
	for ; c+8 <= cols; c += 8 {
		s.adjacent(&out[c], 1, &x[0], &w[c*n], n, n, eb*n*halfAhead)
	}
	return c
}

func f16x8Wide(out, x []float32, w []uint16, ldw, n int) {
	if n < 8 { // the assembly reads each row's last 8 halves
		f16x8Block(out, 0, x, 0, w, ldw, n)
		f16x8Block(out[4:], 0, x, 0, w[4*ldw:], ldw, n)
		return
	}
	_, _, _ = out[:8], x[:n], w[:7*ldw+n]
	halfDotF16x1x8(&out[0], 1, &x[0], &w[0], ldw, n, 2*ldw*halfAhead)
}

func bf16x8Wide(out, x []float32, w []uint16, ldw, n int) {
	if n < 8 {
		bf16x8Block(out, 0, x, 0, w, ldw, n)
		bf16x8Block(out[4:], 0, x, 0, w[4*ldw:], ldw, n)
		return
	}
	_, _, _ = out[:8], x[:n], w[:7*ldw+n]
	halfDotBF16x1x8(&out[0], 1, &x[0], &w[0], ldw, n, 2*ldw*halfAhead)
}

// widenBF16x8Panel and widenF16x8Panel widen whole panels of half weights
// with the tiles' own widening, then finish any tail in scalar code.
func widenBF16x8Panel(dst []float32, src []byte) {
	h := byteHalves(src)
	dst = dst[:len(h)]
	k := 0
	for ; k+8 <= len(h); k += 8 {
		loadH8(h, k).Store((*[8]float32)(dst[k : k+8]))
	}
	archsimd.ClearAVXUpperBits()
	float16.BF16ToF32(dst[k:], h[k:])
}

func widenF16x8Panel(dst []float32, src []byte) {
	h := byteHalves(src)
	dst = dst[:len(h)]
	k := 0
	for ; k+8 <= len(h); k += 8 {
		loadF8(h, k).Store((*[8]float32)(dst[k : k+8]))
	}
	archsimd.ClearAVXUpperBits()
	float16.F16ToF32(dst[k:], h[k:])
}
