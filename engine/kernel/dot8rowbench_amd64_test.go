//go:build goexperiment.simd && amd64

package kernel

import (
	"fmt"
	"math/rand/v2"
	"os"
	"simd/archsimd"
	"slices"
	"testing"
	"time"

	"github.com/graft-ai/graft/engine/gguf"
)

// rowMatrix is a Q8_0, Q4_0, Q6_K or Q4_K matrix 768 wide for the
// lone-row A/B tools, held in L2 (the kernel's own speed) or 110 MB
// (memory's share), with an activation row and the type's streamRow (the
// K-quants' as dotk_amd64.go installs it).
type rowMatrix struct {
	typ     gguf.Type
	w, xq   []byte
	out     []float32
	ldw, nb int
	row     func(out *float32, xq *byte, w *byte, ldw, nb, cols int)
}

// rowChunk is a decode thread's first claim of a 768-row matrix.
const rowChunk = 384

func rowMatrices() []rowMatrix {
	r := rand.New(rand.NewPCG(9, 10))
	const in = 768
	var ms []rowMatrix
	for _, typ := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_0, gguf.TypeQ6_K, gguf.TypeQ4_K} {
		blockVals, actBytes, quantize := 32, 34, quantizeQ8_0Act
		var row func(out *float32, xq *byte, w *byte, ldw, nb, cols int)
		if k := dotkAVX2[typ]; k != nil {
			blockVals, actBytes, quantize = 256, q8KBytes, quantizeQ8K
			row = k.streams().row
		} else {
			row = lonerow(typ)
		}
		for _, rows := range []int{rowChunk, 140000 / rowChunk * rowChunk} {
			m := rowMatrix{typ: typ, w: randomQ(r, typ, rows, in), nb: in / blockVals, out: make([]float32, rows), row: row}
			m.xq = make([]byte, m.nb*actBytes)
			quantize(m.xq, randomX(r, in))
			m.ldw = m.nb * typ.BlockBytes()
			ms = append(ms, m)
		}
	}
	return ms
}

// pass reads the whole matrix in chunks, as decode's threads claim it.
func (m *rowMatrix) pass() {
	for c := 0; c < len(m.out); c += rowChunk {
		m.row(&m.out[c], &m.xq[0], &m.w[c*m.ldw], m.ldw, m.nb, rowChunk)
	}
}

// BenchmarkDot8Row runs streamRow.row (installed or not) on one thread
// over rowMatrices, read as four strided streams and as tiles in order:
// whether a type's lone-row kernel keeps up with the four streams.
func BenchmarkDot8Row(b *testing.B) {
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() || !hasF16C() {
		b.Skip("no AVX2, FMA and F16C")
	}
	defer func(w int) { rowMinStream = w }(rowMinStream)
	for _, m := range rowMatrices() {
		for _, mode := range []struct {
			name string
			min  int
		}{{"strided", defaultRowMinStream}, {"inorder", 1 << 40}} {
			b.Run(fmt.Sprintf("%s/%dMB/%s", m.typ, len(m.w)>>20, mode.name), func(b *testing.B) {
				rowMinStream = mode.min
				for b.Loop() {
					m.pass()
				}
				b.ReportMetric(float64(len(m.w))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		}
	}
}

// TestDot8RowAB alternates streamRow.row's strided streams and its tiles
// in order over rowMatrices many times in one process and logs each one's
// best and median GB/s: with other processes on the cores, the best of
// many short runs is the kernel's own speed. Set GRAFT_DOT8_AB=1.
func TestDot8RowAB(t *testing.T) {
	if os.Getenv("GRAFT_DOT8_AB") == "" {
		t.Skip("set GRAFT_DOT8_AB=1 to measure")
	}
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() || !hasF16C() {
		t.Skip("no AVX2, FMA and F16C")
	}
	defer func(w int) { rowMinStream = w }(rowMinStream)
	for _, m := range rowMatrices() {
		reps := max(1, (8<<20)/len(m.w))
		var gbs [2][]float64
		for range 60 {
			for i, min := range []int{defaultRowMinStream, 1 << 40} {
				rowMinStream = min
				s := time.Now()
				for range reps {
					m.pass()
				}
				gbs[i] = append(gbs[i], float64(reps*len(m.w))/time.Since(s).Seconds()/1e9)
			}
		}
		for i, name := range []string{"strided", "inorder"} {
			slices.Sort(gbs[i])
			t.Logf("%s %d MB %s: best %.1f median %.1f GB/s", m.typ, len(m.w)>>20, name, gbs[i][len(gbs[i])-1], gbs[i][len(gbs[i])/2])
		}
	}
}
