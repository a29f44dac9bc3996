//go:build !(goexperiment.simd && amd64)

package train

import "github.com/graft-ai/graft/engine/kernel"

var (
	siluPartsF32 = siluPartsGo[float32]
	softmaxF32   = kernel.Softmax
	tile         = tile6Go
	tiles        = tilesGo
)

func copy16(dst, src []float32) { copy(dst[:16], src[:16]) }
