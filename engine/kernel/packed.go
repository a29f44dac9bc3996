package kernel

import (
	"fmt"

	"github.com/graft-ai/graft/engine/gguf"
)

// Weights packed eight rows to a block (packq4.go, packq4k.go): one load
// brings a few quant bytes of eight rows, each row's products stay in a
// lane of their own, and the per-block work that does not depend on the
// row (unpacking scales, loading activations) is shared by eight rows.
// The other K-quants are packed row by row (packq6k.go, packq2k.go,
// packq3k.go): their quants regrouped so that a super-block's scales are
// widened once and serve every group, and its bits are gathered in fewer
// ops. The loader packs a matrix once (cpu.Backend.Pack) and computes
// with MatMulPacked from then on.

// packRows is the rows of a packed group.
const packRows = 8

// packing is a weight type's packed layout.
type packing struct {
	rowBytes  int // a row's share of a packed group's block
	pack      func(dst, src []byte, rows, cols int)
	unpackRow func(dst, w []byte, row, cols int)
	// dot is the integer dot of the packed layout, set by SIMD builds
	// on CPUs that have its kernels.
	dot *intDot
}

// packings holds the types with a packed layout (a value, not filled by
// init, so that the SIMD builds' init can install kernels in it).
var packings = map[gguf.Type]*packing{
	gguf.TypeQ4_0: q4_0x8.packing(),
	gguf.TypeQ4_1: q4_1x8.packing(),
	gguf.TypeQ5_0: q5_0x8.packing(),
	gguf.TypeQ5_1: q5_1x8.packing(),
	gguf.TypeQ4_K: {rowBytes: q4KRowBytes, pack: packQ4_Kx8, unpackRow: unpackQ4_Kx8Row},
	gguf.TypeQ6_K: blockwise(q6KBytes, packQ6KBlock, unpackQ6KBlock),
	gguf.TypeQ2_K: blockwise(q2KBytes, packQ2KBlock, unpackQ2KBlock),
	gguf.TypeQ3_K: blockwise(q3KBytes, packQ3KBlock, unpackQ3KBlock),
}

// blockwise is the packing of a layout that rewrites each super-block of
// bb bytes in its place (pack and unpack, from d to s).
func blockwise(bb int, pack, unpack func(d, s []byte)) *packing {
	return &packing{
		rowBytes: bb,
		pack: func(dst, src []byte, rows, cols int) {
			for i := range rows * cols / 256 {
				pack(dst[i*bb:][:bb], src[i*bb:][:bb])
			}
		},
		unpackRow: func(dst, w []byte, row, cols int) {
			nb := cols / 256
			for b := range nb {
				unpack(dst[b*bb:][:bb], w[(row*nb+b)*bb:][:bb])
			}
		},
	}
}

// CanPack reports whether rows of cols values of type t pack (whole groups
// of 8 rows, whole blocks) and MatMulPacked has kernels for them here: only
// then is packing worth it, and MatMulPacked may be called.
func CanPack(t gguf.Type, rows, cols int) bool {
	k := packings[t]
	return k != nil && k.dot != nil && rows > 0 && rows%packRows == 0 && cols > 0 && cols%t.BlockSize() == 0
}

// PackedBytes is the size of rows of cols values of type t packed.
func PackedBytes(t gguf.Type, rows, cols int) int {
	return rows * cols / t.BlockSize() * layout(t).rowBytes
}

// Pack writes rows of cols values of type t (src, as stored) packed into
// dst (PackedBytes long). rows must be a multiple of 8, cols of the block.
func Pack(t gguf.Type, dst, src []byte, rows, cols int) {
	k := layout(t)
	if rows%packRows != 0 || cols%t.BlockSize() != 0 || len(src) != rows*cols/t.BlockSize()*t.BlockBytes() || len(dst) != PackedBytes(t, rows, cols) {
		panic(fmt.Sprintf("kernel: cannot pack %d×%d %s values (%d bytes into %d)", rows, cols, t, len(src), len(dst)))
	}
	k.pack(dst, src, rows, cols)
}

// UnpackRow writes row of a packed matrix of type t and cols values (w,
// the whole matrix) into dst as stored.
func UnpackRow(t gguf.Type, dst, w []byte, row, cols int) { layout(t).unpackRow(dst, w, row, cols) }

// layout is t's packed layout; it panics for a type without one.
func layout(t gguf.Type) *packing {
	k := packings[t]
	if k == nil {
		panic(fmt.Sprintf("kernel: no packed layout for %s", t))
	}
	return k
}

// MatMulPacked is MatMulQ8 on weights of type t packed by Pack (outDim a
// multiple of 8). On Q4_0 every output has MatMulQ8's bits (the float order
// of dotQ4_0Q8_0); on the other types each is its dot*Packed's
// (dotQ4_1Packed, dotQ4KPacked, ...), a rounding apart from MatMulQ8's. It
// panics where t has no packed kernels here.
func MatMulPacked(p *Pool, out, x []float32, w []byte, t gguf.Type, rows, in, outDim int) {
	id := dotFor(t, true)
	if id == nil {
		panic(fmt.Sprintf("kernel: no kernels for packed %s weights on this CPU", t))
	}
	if outDim%packRows != 0 {
		panic(fmt.Sprintf("kernel: packed %s weights of %d rows", t, outDim))
	}
	matMulQ8(p, out, x, w, t, id, rows, in, outDim)
}

// dotFor is the integer dot of weights of type t, packed or as stored.
func dotFor(t gguf.Type, packed bool) *intDot {
	if packed {
		if k := packings[t]; k != nil {
			return k.dot
		}
		return nil
	}
	return intDots[t]
}
