//go:build goexperiment.simd && amd64

package kernel

import "github.com/graft-ai/graft/engine/gguf"

//go:noescape
func dotkQ4_Kx1x4sold(out *float32, ldo int, x *byte, ldx int, w *byte, ldw int, nb int)

//go:noescape
func dotkQ5_Kx1x4sold(out *float32, ldo int, x *byte, ldx int, w *byte, ldw int, nb int)

//go:noescape
func dotkQ6_Kx1x4sold(out *float32, ldo int, x *byte, ldx int, w *byte, ldw int, nb int)

//go:noescape
func dotkQ2_Kx1x4sold(out *float32, ldo int, x *byte, ldx int, w *byte, ldw int, nb int)

//go:noescape
func dotkQ3_Kx1x4sold(out *float32, ldo int, x *byte, ldx int, w *byte, ldw int, nb int)

var dotkOld = map[gguf.Type]dotkFunc{gguf.TypeQ4_K: dotkQ4_Kx1x4sold, gguf.TypeQ5_K: dotkQ5_Kx1x4sold, gguf.TypeQ6_K: dotkQ6_Kx1x4sold, gguf.TypeQ2_K: dotkQ2_Kx1x4sold, gguf.TypeQ3_K: dotkQ3_Kx1x4sold}
