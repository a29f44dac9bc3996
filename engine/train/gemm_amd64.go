//go:build goexperiment.simd && amd64

package train

import (
	"simd/archsimd"
	"unsafe"
)

var (
	siluPartsF32 = siluPartsGo[float32]
	siluBackF32  = siluBackGo[float32]
	softmaxF32   = softmaxGo[float32]
	tile         = tile6Go
	tiles        = tilesGo
)

func init() {
	if archsimd.X86.AVX2() && archsimd.X86.FMA() {
		tile, tiles, siluPartsF32, siluBackF32, softmaxF32 = tile6, tilesAVX, siluParts8, siluBack8, softmax8
	}
}

type f8 = archsimd.Float32x8

// ld8 loads s[i:i+8]; callers have checked the range.
func ld8(s []float32, i int) f8 {
	return archsimd.LoadFloat32x8((*[8]float32)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(s)), uintptr(i)*4)))
}

func st8(v f8, s []float32, i int) {
	v.Store((*[8]float32)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(s)), uintptr(i)*4)))
}
