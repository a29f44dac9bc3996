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

// BenchmarkDot8Row runs dot8Row.row (installed or not) on one thread over a 768-wide matrix
// of each type held in L2 (the kernel's own speed) and of 110 MB (memory's
// share), in chunks of a decode thread's first claim: whether a type's
// lone-row kernel keeps up with the four streams, read as four strided
// streams (dot8Row.row) and as tiles in order.
func BenchmarkDot8Row(b *testing.B) {
	tb := b
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() || !hasF16C() {
		tb.Skip("no AVX2 and F16C")
	}
	r := rand.New(rand.NewPCG(9, 10))
	const in, chunk = 768, 384
	for _, typ := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_0} {
		for _, rows := range []int{chunk, 140000 / chunk * chunk} {
			w := randomQ(r, typ, rows, in)
			nb := in / 32
			xq := make([]byte, nb*34)
			quantizeQ8_0Act(xq, randomX(r, in))
			out := make([]float32, rows)
			ldw := nb * typ.BlockBytes()
			row := (&streamRow{dot8RowAVX2[typ], dot8AVX2[typ][0][3], dot8AVX2[typ][0][0]}).row
			for _, m := range []struct {
				name string
				min  int
			}{{"strided", defaultRowMinStream}, {"inorder", 1 << 40}} {
				b.Run(fmt.Sprintf("%s/%dMB/%s", typ, len(w)>>20, m.name), func(b *testing.B) {
					defer func(w int) { rowMinStream = w }(rowMinStream)
					rowMinStream = m.min
					for b.Loop() {
						for c := 0; c < rows; c += chunk {
							row(&out[c], &xq[0], &w[c*ldw], ldw, nb, chunk)
						}
					}
					b.ReportMetric(float64(len(w))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
				})
			}
		}
	}
}

// TestDot8RowAB alternates dot8Row.row's strided streams and its tiles in
// order over
// BenchmarkDot8Row's matrices many times in one process and logs each
// one's best and median GB/s: with other processes on the cores, the best
// of many short runs is the kernel's own speed. Set GRAFT_DOT8_AB=1.
func TestDot8RowAB(t *testing.T) {
	if os.Getenv("GRAFT_DOT8_AB") == "" {
		t.Skip("set GRAFT_DOT8_AB=1 to measure")
	}
	tb := t
	defer func(w int) { rowMinStream = w }(rowMinStream)
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() || !hasF16C() {
		tb.Skip("no AVX2 and F16C")
	}
	r := rand.New(rand.NewPCG(9, 10))
	const in, chunk = 768, 384
	for _, typ := range []gguf.Type{gguf.TypeQ8_0, gguf.TypeQ4_0} {
		for _, rows := range []int{chunk, 140000 / chunk * chunk} {
			w := randomQ(r, typ, rows, in)
			nb := in / 32
			xq := make([]byte, nb*34)
			quantizeQ8_0Act(xq, randomX(r, in))
			out := make([]float32, rows)
			ldw := nb * typ.BlockBytes()
			row := (&streamRow{dot8RowAVX2[typ], dot8AVX2[typ][0][3], dot8AVX2[typ][0][0]}).row
			reps := max(1, (8<<20)/len(w))
			var gbs [2][]float64
			for range 60 {
				for i, m := range []int{defaultRowMinStream, 1 << 40} {
					rowMinStream = m
					s := time.Now()
					for range reps {
						for c := 0; c < rows; c += chunk {
							row(&out[c], &xq[0], &w[c*ldw], ldw, nb, chunk)
						}
					}
					gbs[i] = append(gbs[i], float64(reps*len(w))/time.Since(s).Seconds()/1e9)
				}
			}
			for i, name := range []string{"strided", "inorder"} {
				slices.Sort(gbs[i])
				t.Logf("%s %d MB %s: best %.1f median %.1f GB/s", typ, len(w)>>20, name, gbs[i][len(gbs[i])-1], gbs[i][len(gbs[i])/2])
			}
		}
	}
}
