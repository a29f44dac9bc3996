//go:build goexperiment.simd && amd64

package train

import (
	"simd/archsimd"
	"unsafe"

	"github.com/graft-ai/graft/engine/kernel"
)

const gemmRows, gemmCols = 6, 16

var (
	siluPartsF32 = siluPartsGo[float32]
	softmaxF32   = kernel.Softmax
	gemmTile     = gemmTileGo
	gemmRow      = gemmRowGo
)

func init() {
	if archsimd.X86.AVX2() && archsimd.X86.FMA() {
		gemmTile, gemmRow = gemmTile6x16, gemmRow1x16
		siluPartsF32, softmaxF32 = siluParts8, softmax8
	}
}

//go:noescape
func gemmTile6x16asm(out *float32, ldo int, x *float32, ldx int, b *float32, ldb int, k int)

func gemmTile6x16(out []float32, ldo int, x []float32, ldx int, b []float32, ldb, k int) {
	if k == 0 {
		for r := 0; r < gemmRows; r++ {
			clear(out[r*ldo : r*ldo+gemmCols])
		}
		return
	}
	_, _, _ = out[:5*ldo+16], x[:5*ldx+k], b[:(k-1)*ldb+16]
	gemmTile6x16asm(unsafe.SliceData(out), ldo, unsafe.SliceData(x), ldx, unsafe.SliceData(b), ldb, k)
}

type f8 = archsimd.Float32x8

// ld8 loads s[i:i+8]; callers have checked the range.
func ld8(s []float32, i int) f8 {
	return archsimd.LoadFloat32x8((*[8]float32)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(s)), uintptr(i)*4)))
}

func st8(v f8, s []float32, i int) {
	v.Store((*[8]float32)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(s)), uintptr(i)*4)))
}

func gemmRow1x16(out, x []float32, _ int, b []float32, ldb, k int) {
	_, _, _ = out[:16], x[:k], b[:(k-1)*ldb+16]
	var c0, c1 f8
	for t := 0; t < k; t++ {
		a := archsimd.BroadcastFloat32x8(x[t])
		c0, c1 = ld8(b, t*ldb).MulAdd(a, c0), ld8(b, t*ldb+8).MulAdd(a, c1)
	}
	st8(c0, out, 0)
	st8(c1, out, 8)
	archsimd.ClearAVXUpperBits()
}
