//go:build goexperiment.simd && amd64

package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine/gguf"
)

// BenchmarkDot8Tile times each AVX2 tile kernel alone on L1-resident
// blocks (24 blocks, the 110M model's width), in ns per block pair, so
// that kernel shapes compare in one process whatever else the host runs.
func BenchmarkDot8Tile(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 8))
	const nb = 24
	for _, typ := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_0} {
		w := randomQ(r, typ, 4, nb*32)
		x := randomX(r, 4*nb*32)
		ldx := nb * 34
		xq := make([]byte, 4*ldx)
		for i := range 4 {
			quantizeQ8_0Act(xq[i*ldx:(i+1)*ldx], x[i*nb*32:(i+1)*nb*32])
		}
		ldw := nb * typ.BlockBytes()
		out := make([]float32, 16)
		for _, sh := range [][2]int{{1, 4}, {2, 4}, {4, 2}} {
			k := dot8AVX2[typ][sh[0]-1][sh[1]-1]
			if k == nil { // Q4_0 has lone-row kernels only
				continue
			}
			b.Run(fmt.Sprintf("%s/%dx%d", typ, sh[0], sh[1]), func(b *testing.B) {
				for b.Loop() {
					k(&out[0], 4, &xq[0], ldx, &w[0], ldw, nb)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nb*sh[0]*sh[1]), "ns/pair")
			})
		}
	}
}
