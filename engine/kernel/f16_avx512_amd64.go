//go:build goexperiment.simd && amd64

package kernel

// useHalfDotAVX512 gives the AVX-512 level's half sets the 16-lane decode
// tiles of halfdot_amd64.s (halfDot*x1x8z) for a lone row, read as eight
// streams per core like the AVX2 ones (halfStreams). They keep the level's
// float32 recipe, so a lone F16 row now takes them instead of widening
// panels: on a 2-core Emerald Rapids host F16 decode ran at 45 tok/s (39%
// of the bound, 0.55x llama.cpp) with panels, BF16 at 77 (64%, 0.88x)
// with the archsimd tiles.
func useHalfDotAVX512() {
	bf16Kernels = withSpan(bf16Kernels, bf16x16Wide, halfStreams[uint16]{halfDotBF16x1x8z, halfDotBF16x1x8zs, halfMinStream})
	f16Kernels = withSpan(f16x16Kernels, f16x16Wide, halfStreams[uint16]{halfDotF16x1x8z, halfDotF16x1x8zs, halfMinStream})
}

// f16x16Kernels is the AVX-512 F16 set for a lone row (MatMulF16 widens
// panels for more): its tiles are the one-column dot, for the few columns
// the span and the wide tile leave.
var f16x16Kernels = tileKernels[uint16]{rows: 1, cols: 1,
	tile: []func([]float32, int, []float32, int, []uint16, int, int){f16x16Tile}, one: f16x16One}

func f16x16Tile(out []float32, _ int, x []float32, _ int, w []uint16, _, n int) {
	out[0] = f16x16One(x, w, n)
}

// f16x16One is one dot by the 8-row tile, its eight rows all w: the bits
// of the level's recipe, for the rare column no wider tile takes.
func f16x16One(x []float32, w []uint16, n int) float32 {
	if n == 0 {
		return 0
	}
	_, _ = x[:n], w[:n]
	var o float32
	halfDotF16x1x8zs(&o, 0, &x[0], &w[0], 0, n, 0)
	return o
}

func f16x16Wide(out, x []float32, w []uint16, ldw, n int) {
	halfWide16(halfDotF16x1x8z, out, x, w, ldw, n)
}

func bf16x16Wide(out, x []float32, w []uint16, ldw, n int) {
	halfWide16(halfDotBF16x1x8z, out, x, w, ldw, n)
}

// halfWide16 is a wide tile of 8 adjacent rows by k, which takes any n.
func halfWide16(k halfDot[uint16], out, x []float32, w []uint16, ldw, n int) {
	if n == 0 {
		clear(out[:8])
		return
	}
	_, _, _ = out[:8], x[:n], w[:7*ldw+n]
	k(&out[0], 1, &x[0], &w[0], ldw, n, 2*ldw*halfAhead)
}
