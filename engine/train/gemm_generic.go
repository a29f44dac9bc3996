//go:build !(goexperiment.simd && amd64)

package train

var (
	siluPartsF32 = siluPartsGo[float32]
	siluBackF32  = siluBackGo[float32]
	softmaxF32   = softmaxGo[float32]
	tile         = tile6Go
	tiles        = tilesGo
)

func copy16(dst, src []float32) { copy(dst[:16], src[:16]) }
