//go:build goexperiment.simd && amd64

package kernel

import (
	"math/rand/v2"
	"simd/archsimd"
	"testing"

	"github.com/graft-ai/graft/engine/gguf"
)

// rowCase is one type's lone-row kernels as streamRow takes them, with the
// reference dot and activation format they must match.
type rowCase struct {
	typ       gguf.Type
	row       func(out *float32, xq *byte, w *byte, ldw, nb, cols int)
	ref       func(xq, w []byte, nb int) float32
	blockVals int // values per weight and activation block
	quantize  func(dst []byte, x []float32)
	actBytes  int // bytes per activation block
}

// rowCases lists every type with a strided kernel, installed as
// intDot.row or not (Q5_0 keeps its tiles in order).
func rowCases() []rowCase {
	var cs []rowCase
	for _, typ := range kTypes {
		for _, k := range []*dotkSet{dotkAVX2[typ], dotkVNNI[typ]} {
			if k == nil || (k == dotkVNNI[typ] && !hasVNNI512()) {
				continue
			}
			cs = append(cs, rowCase{typ, k.streams().row, refDots[typ], 256, quantizeQ8K, q8KBytes})
		}
	}
	ref8 := map[gguf.Type]func(xq, w []byte, nb int) float32{
		gguf.TypeQ4_0: dotQ4_0Q8_0, gguf.TypeQ8_0: dotQ8_0Q8_0, gguf.TypeQ5_0: dotQ5_0Q8_0,
	}
	for _, typ := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ5_0} {
		cs = append(cs, rowCase{typ, lonerow(typ), ref8[typ], 32, quantizeQ8_0Act, 34})
	}
	for typ, ref := range map[gguf.Type]func(xq, w []byte, nb int) float32{gguf.TypeQ4_1: dotQ4_1Q8_1, gguf.TypeQ5_1: dotQ5_1Q8_1} {
		cs = append(cs, rowCase{typ, dot81AVX2[typ].lone.row, ref, 32, quantizeQ8_1Act, q8_1Bytes})
		if v, ok := dot81LoneVNNI[typ]; ok && hasVNNI512() {
			cs = append(cs, rowCase{typ, v.row, ref, 32, quantizeQ8_1Act, q8_1Bytes})
		}
	}
	return cs
}

// TestStreamRow: streamRow.row (streamRow8.row for Q4_0) gives each output
// the bits of the reference dot, read as four strided streams (every
// quarter long enough)
// and as tiles in order (none long enough), over column counts that leave
// every remainder, rows at odd strides, and writes nothing beyond them.
func TestStreamRow(t *testing.T) {
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() || !hasF16C() {
		t.Skip("no AVX2, FMA and F16C")
	}
	defer func(m int) { rowMinStream = m }(rowMinStream)
	r := rand.New(rand.NewPCG(8, 14))
	for _, rc := range rowCases() {
		for _, minStream := range []int{0, 1 << 40} {
			rowMinStream = minStream
			for _, nb := range []int{1, 3, 24 * 32 / rc.blockVals} {
				in, bb := rc.blockVals*nb, rc.typ.BlockBytes()
				ldw := nb*bb + 3
				const n = 70
				w := make([]byte, n*ldw)
				for c := range n {
					copy(w[c*ldw:], randomQ(r, rc.typ, 1, in))
				}
				xq := make([]byte, nb*rc.actBytes)
				rc.quantize(xq, randomX(r, in))
				out := make([]float32, n+1)
				for _, cols := range []int{0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 18, 19, 33, 64, 66, 67, 69} {
					for c := range out {
						out[c] = -1
					}
					rc.row(&out[0], &xq[0], &w[0], ldw, nb, cols)
					for c := range out {
						var want float32 = -1
						if c < cols {
							want = rc.ref(xq, w[c*ldw:c*ldw+nb*bb], nb)
						}
						if !sameBits(out[c], want) {
							t.Fatalf("%s row of %d nb %d minStream %d: [%d] = %v, want %v", rc.typ, cols, nb, minStream, c, out[c], want)
						}
					}
				}
			}
		}
	}
}

// TestStreamRowInstalled: where intDot.row is set, it is the type's
// streamRow (TestStreamRow checks those), so MatMulQ8's lone row takes
// the kernels tested there.
func TestStreamRowInstalled(t *testing.T) {
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() || !hasF16C() || levelLimit() < 1 {
		t.Skip("no AVX2 kernels here")
	}
	for _, typ := range append(kTypes, gguf.TypeQ8_0, gguf.TypeQ4_0) {
		if intDots[typ].row == nil {
			t.Errorf("%s: no row function installed", typ)
		}
	}
}
