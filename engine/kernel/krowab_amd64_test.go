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

// kRowVariants are the lone-row functions TestKRowAB compares, by type.
func kRowVariants(typ gguf.Type) (names []string, rows []func(out *float32, xq *byte, w *byte, ldw, nb, cols int)) {
	k := dotkAVX2[typ]
	names = append(names, "old", "new")
	rows = append(rows, (&streamRow{dot8Func(dotkOld[typ]), dot8Func(k[0]), dot8Func(k[1])}).row)
	rows = append(rows, (&streamRow{dot8Func(k[6]), dot8Func(k[0]), dot8Func(k[1])}).row)
	return
}

// TestKRowAB alternates the K-quant lone-row variants over a matrix 768
// wide held in L2 and one of 110 MB, and logs best and median GB/s. Set
// GRAFT_KROW_AB=1.
func TestKRowAB(t *testing.T) {
	if os.Getenv("GRAFT_KROW_AB") == "" {
		t.Skip("set GRAFT_KROW_AB=1 to measure")
	}
	if !archsimd.X86.AVX2() || !archsimd.X86.FMA() || !hasF16C() {
		t.Skip("no AVX2, FMA and F16C")
	}
	r := rand.New(rand.NewPCG(9, 11))
	const in = 768
	for _, typ := range []gguf.Type{gguf.TypeQ6_K, gguf.TypeQ4_K} {
		names, fns := kRowVariants(typ)
		sizes := []int{rowChunk, 110 << 20 / (3 * typ.BlockBytes()) / rowChunk * rowChunk}
		if os.Getenv("GRAFT_KROW_L2") != "" {
			sizes = sizes[:1]
		}
		for _, rows := range sizes {
			nb := in / 256
			w := randomQ(r, typ, rows, in)
			xq := make([]byte, nb*q8KBytes)
			quantizeQ8K(xq, randomX(r, in))
			ldw := nb * typ.BlockBytes()
			out := make([]float32, rows)
			reps := max(1, (4<<20)/len(w))
			gbs := make([][]float64, len(fns))
			for range 100 {
				for i, f := range fns {
					s := time.Now()
					for range reps {
						for c := 0; c < rows; c += rowChunk {
							f(&out[c], &xq[0], &w[c*ldw], ldw, nb, rowChunk)
						}
					}
					gbs[i] = append(gbs[i], float64(reps*len(w))/time.Since(s).Seconds()/1e9)
				}
			}
			for i, name := range names {
				slices.Sort(gbs[i])
				t.Logf("%s %d MB %s: best %.1f median %.1f GB/s", typ, len(w)>>20, name, gbs[i][len(gbs[i])-1], gbs[i][len(gbs[i])/2])
			}
		}
	}
}

// TestKRowStepAB alternates the old and new strided K-quant kernels as
// intDot.row in BenchmarkDecodeStepQ4KM's step (weights in 2 MiB pages)
// and logs each kind's median time. Set GRAFT_KROW_AB=1.
func TestKRowStepAB(t *testing.T) {
	if os.Getenv("GRAFT_KROW_AB") == "" {
		t.Skip("set GRAFT_KROW_AB=1 to measure")
	}
	p := NewPool(2)
	s := newQ4KMStep(p, 1, true)
	types := []gguf.Type{gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K}
	saved := map[gguf.Type]func(out *float32, xq *byte, w *byte, ldw, nb, cols int){}
	for _, typ := range types {
		saved[typ] = intDots[typ].row
	}
	defer func() {
		for _, typ := range types {
			intDots[typ].row = saved[typ]
		}
	}()
	var tk [2][kinds][]float64
	var tot [2][]float64
	var rd []float64
	for range 30 {
		st := time.Now()
		s.read.run()
		rd = append(rd, time.Since(st).Seconds()*1e3)
		for v := range 2 {
			for _, typ := range types {
				k := dotkAVX2[typ]
				st := dot8Func(k[6])
				if v == 0 {
					st = dot8Func(dotkOld[typ])
				}
				intDots[typ].row = (&streamRow{st, dot8Func(k[0]), dot8Func(k[1])}).row
			}
			s.tk = [kinds]time.Duration{}
			for range 5 {
				s.step()
			}
			sum := 0.0
			for k := range kinds {
				tk[v][k] = append(tk[v][k], s.tk[k].Seconds()/5*1e3)
				sum += s.tk[k].Seconds() / 5 * 1e3
			}
			tot[v] = append(tot[v], sum)
		}
	}
	med := func(x []float64) float64 { slices.Sort(x); return x[len(x)/2] }
	t.Logf("read pass %.3f ms for %d MB; kind MB:%v", med(rd), len(s.read.buf)>>20, s.kb)
	for v, name := range []string{"old", "new"} {
		line := name
		for k, n := range kindNames {
			line += fmt.Sprintf(" %s %.3f", n, med(tk[v][k]))
		}
		t.Logf("%s total %.3f ms (medians)", line, med(tot[v]))
	}
}

// TestKRowSpin runs one lone-row kernel over a matrix held in L2 for
// GRAFT_KROW_SPIN seconds, for perf stat. GRAFT_KROW_TYPE q6_k or q4_k,
// GRAFT_KROW_OLD=1 for the old kernel.
func TestKRowSpin(t *testing.T) {
	if os.Getenv("GRAFT_KROW_SPIN") == "" {
		t.Skip("set GRAFT_KROW_SPIN")
	}
	typ := gguf.TypeQ6_K
	if os.Getenv("GRAFT_KROW_TYPE") == "q4_k" {
		typ = gguf.TypeQ4_K
	}
	k := dotkAVX2[typ]
	st := dot8Func(k[6])
	if os.Getenv("GRAFT_KROW_OLD") != "" {
		st = dot8Func(dotkOld[typ])
	}
	f := (&streamRow{st, dot8Func(k[0]), dot8Func(k[1])}).row
	r := rand.New(rand.NewPCG(9, 11))
	const in, rows = 768, rowChunk
	nb := in / 256
	w := randomQ(r, typ, rows, in)
	xq := make([]byte, nb*q8KBytes)
	quantizeQ8K(xq, randomX(r, in))
	out := make([]float32, rows)
	ldw := nb * typ.BlockBytes()
	n := 0
	s := time.Now()
	for time.Since(s) < 2*time.Second {
		for range 100 {
			f(&out[0], &xq[0], &w[0], ldw, nb, rows)
		}
		n += 100
	}
	t.Logf("%.1f GB/s", float64(n*len(w))/time.Since(s).Seconds()/1e9)
}
