package kernel

import (
	"fmt"

	"github.com/graft-ai/graft/engine/gguf"
)

// Q4_0 weights packed eight rows to a block: the layout of MatMulQ4_0x8.
//
// Group g holds rows 8g..8g+7, block after block; block b of a group is
// 144 bytes: the eight rows' f16 scales d, then four chunks of 32 bytes,
// chunk k holding quant bytes 4k..4k+3 of each row's block b (row r at
// 4r). A group's bytes are those of its eight rows as stored, so a packed
// matrix is exactly as large, and a group starts where its first row did.
//
// Laid out so, one load brings four quant bytes of all eight rows and each
// row's products stay in a lane of their own; the kernels of the rows as
// stored spent most of their work gathering rows into lanes (dot8.go's
// block totals), and a lone activation row read about 26 G weights/s on a
// Zen 3 core in L2, where the packed kernel reads 55 (gen_q4x8.py).
const (
	packRows     = 8
	packBlock    = packRows * q4BlockBytes
	q4BlockBytes = 18
)

// PackQ4_0x8 writes rows of cols Q4_0 values (src, as stored) packed into
// dst. rows must be a multiple of 8, cols of 32, and both slices that size.
func PackQ4_0x8(dst, src []byte, rows, cols int) {
	nb := checkPacked(len(dst), len(src), rows, cols)
	rb := nb * q4BlockBytes
	for g := 0; g < rows; g += packRows {
		for b := range nb {
			d := dst[g*rb+b*packBlock : g*rb+(b+1)*packBlock]
			for r := range packRows {
				s := src[(g+r)*rb+b*q4BlockBytes:]
				d[2*r], d[2*r+1] = s[0], s[1]
				for k := range 4 {
					copy(d[16+32*k+4*r:16+32*k+4*r+4], s[2+4*k:6+4*k])
				}
			}
		}
	}
}

// UnpackQ4_0x8Row writes row of a packed matrix of cols values (w, the
// whole matrix) into dst as stored: cols/32 blocks of 18 bytes.
func UnpackQ4_0x8Row(dst, w []byte, row, cols int) {
	nb := cols / 32
	base := row / packRows * packRows * nb * q4BlockBytes
	r := row % packRows
	for b := range nb {
		s := w[base+b*packBlock : base+(b+1)*packBlock]
		d := dst[b*q4BlockBytes : (b+1)*q4BlockBytes]
		d[0], d[1] = s[2*r], s[2*r+1]
		for k := range 4 {
			copy(d[2+4*k:6+4*k], s[16+32*k+4*r:20+32*k+4*r])
		}
	}
}

func checkPacked(nDst, nSrc, rows, cols int) (nb int) {
	nb = cols / 32
	if rows%packRows != 0 || cols%32 != 0 || nDst != rows*nb*q4BlockBytes || nSrc != nDst {
		panic(fmt.Sprintf("kernel: cannot pack %d×%d Q4_0 values (%d bytes into %d)", rows, cols, nSrc, nDst))
	}
	return nb
}

// packedQ4_0 is the integer dot of packed Q4_0 weights (SIMD builds on
// CPUs with AVX2, FMA and F16C), nil where there are no kernels for it.
var packedQ4_0 *intDot

// CanPackQ4_0 reports whether rows of cols Q4_0 values pack (whole groups
// of 8 rows) and MatMulQ4_0x8 has kernels here: only then is packing worth
// it, and MatMulQ4_0x8 may be called.
func CanPackQ4_0(rows, cols int) bool {
	return packedQ4_0 != nil && rows > 0 && rows%packRows == 0 && cols > 0 && cols%32 == 0
}

// MatMulQ4_0x8 is MatMulQ8 on Q4_0 weights packed by PackQ4_0x8 (outDim a
// multiple of 8), with the same bits: the float order of every output is
// dotQ4_0Q8_0's. It panics where CanPackQ4_0 is false.
func MatMulQ4_0x8(p *Pool, out, x []float32, w []byte, rows, in, outDim int) {
	if packedQ4_0 == nil {
		panic("kernel: no kernels for packed Q4_0 weights on this CPU")
	}
	if outDim%packRows != 0 {
		panic(fmt.Sprintf("kernel: packed Q4_0 weights of %d rows", outDim))
	}
	matMulQ8(p, out, x, w, gguf.TypeQ4_0, packedQ4_0, rows, in, outDim)
}

// dotFor is the integer dot of weights of type t, packed or as stored.
func dotFor(t gguf.Type, packed bool) *intDot {
	if packed {
		if t != gguf.TypeQ4_0 {
			return nil
		}
		return packedQ4_0
	}
	return intDots[t]
}
