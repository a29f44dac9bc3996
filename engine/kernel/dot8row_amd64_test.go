//go:build goexperiment.simd && amd64

package kernel

import (
	"math/rand/v2"
	"simd/archsimd"
	"testing"

	"github.com/graft-ai/graft/engine/gguf"
)

// TestDot8Row: dot8Row.row of the 32-value formats (intDot.row where
// streamed) gives each output the
// bits of the reference dot, read as four strided streams (every quarter
// long enough) and as tiles in order (none long enough), over column
// counts that leave every remainder.
func TestDot8Row(t *testing.T) {
	ref := map[gguf.Type]func(xq, w []byte, nb int) float32{
		gguf.TypeQ4_0: dotQ4_0Q8_0, gguf.TypeQ8_0: dotQ8_0Q8_0, gguf.TypeQ5_0: dotQ5_0Q8_0,
	}
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() || !hasF16C() {
		t.Skip("no AVX2 and F16C")
	}
	defer func(m int) { rowMinStream = m }(rowMinStream)
	r := rand.New(rand.NewPCG(8, 14))
	for typ, one := range ref {
		// every type's strided kernel, installed (streamed) or not
		row := (&streamRow{dot8RowAVX2[typ], dot8AVX2[typ][0][3], dot8AVX2[typ][0][0]}).row
		for _, minStream := range []int{0, 1 << 40} {
			rowMinStream = minStream
			for _, nb := range []int{1, 3, 24} {
				in, bb := 32*nb, typ.BlockBytes()
				ldw := nb*bb + 3
				const n = 70
				w := make([]byte, n*ldw)
				for c := range n {
					copy(w[c*ldw:], randomQ(r, typ, 1, in))
				}
				xq := make([]byte, nb*34)
				quantizeQ8_0Act(xq, randomX(r, in))
				out := make([]float32, n+1)
				for _, cols := range []int{0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 18, 19, 33, 64, 66, 67, 69} {
					for c := range out {
						out[c] = -1
					}
					row(&out[0], &xq[0], &w[0], ldw, nb, cols)
					for c := range out {
						var want float32 = -1
						if c < cols {
							want = one(xq, w[c*ldw:c*ldw+nb*bb], nb)
						}
						if !sameBits(out[c], want) {
							t.Fatalf("%s row of %d nb %d minStream %d: [%d] = %v, want %v", typ, cols, nb, minStream, c, out[c], want)
						}
					}
				}
			}
		}
	}
}
