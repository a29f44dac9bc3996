//go:build goexperiment.simd && amd64

package kernel

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graft-ai/graft/engine/gguf"
)

// TestDotKAB is a measuring tool: MatMulQ8 through 1×4 and 4-row tiles
// ("old") against row and the type's tileRows ("new") on a 2-thread pool
// (1 with GRAFT_DOTK_AB_1 set), over copies of a matrix that together
// exceed L3, rounds interleaved, min and median of each. Run it with
// GRAFT_DOTK_AB=1 -v (GRAFT_DOTK_AB_ONLY=out,pre64 picks shapes).
func TestDotKAB(t *testing.T) {
	if os.Getenv("GRAFT_DOTK_AB") == "" {
		t.Skip("GRAFT_DOTK_AB unset")
	}
	threads := 2
	if os.Getenv("GRAFT_DOTK_AB_1") != "" {
		threads = 1
	}
	only := os.Getenv("GRAFT_DOTK_AB_ONLY")
	rng := rand.New(rand.NewPCG(12, 14))
	for _, typ := range []gguf.Type{gguf.TypeQ6_K, gguf.TypeQ4_K} {
		for _, s := range []struct {
			name    string
			out, in int
			copies  int
			rows    int
		}{{"out", 32000, 768, 6, 1}, {"ffn", 2048, 768, 60, 1}, {"down", 768, 2048, 60, 1}, {"hot", 2048, 768, 1, 1}, {"pre4", 2048, 768, 1, 4}, {"pre64", 2048, 768, 1, 64}} {
			if only != "" && !strings.Contains(only, s.name) {
				continue
			}
			var ws [][]byte
			for range s.copies {
				ws = append(ws, randomQ(rng, typ, s.out, s.in))
			}
			x := randVec(rng, s.rows*s.in)
			out := make([]float32, s.rows*s.out)
			p := NewPool(threads)
			type variant struct {
				row      func(out *float32, xq *byte, w *byte, ldw, nb, cols int)
				tileRows int
			}
			id := *intDots[typ]
			sets := []variant{{nil, 0}, {id.row, id.tileRows}}
			times := make([][]float64, len(sets))
			i := 0
			reps := max(1, 2e7/(s.out*s.in*s.rows))
			for round := range 31 {
				for v, set := range sets {
					intDots[typ].row, intDots[typ].tileRows = set.row, set.tileRows
					st := time.Now()
					for range reps {
						MatMulQ8(p, out, x, ws[i%len(ws)], typ, s.rows, s.in, s.out)
						i++
					}
					if round > 0 {
						times[v] = append(times[v], time.Since(st).Seconds()/float64(reps))
					}
				}
			}
			*intDots[typ] = id
			p.Close()
			line := fmt.Sprintf("%s %-5s", typ, s.name)
			for v, ts := range times {
				slices.Sort(ts)
				blk := float64(s.rows * s.out * s.in / 256)
				line += fmt.Sprintf("  %s min %6.2f med %6.2f ns/blk (%5.1f GB/s)", []string{"old", "new"}[v], ts[0]*1e9/blk, ts[len(ts)/2]*1e9/blk, float64(len(ws[0]))/ts[0]/1e9)
			}
			t.Log(line)
		}
	}
}

// TestDotKDecodeAB is a measuring tool (GRAFT_DOTK_AB=1 -v): the matmuls
// of one q4_k_m decode step of the 110M shape (Q6_K for the output layer
// and for attn_v, ffn_down of layers 0,3,6,9,11 as llama.cpp's Q4_K_M
// picks) on a 2-thread pool, 1×4 tiles in order ("tiles") and row's four
// streams ("row") alternating token by token.
func TestDotKDecodeAB(t *testing.T) {
	if os.Getenv("GRAFT_DOTK_AB") == "" {
		t.Skip("GRAFT_DOTK_AB unset")
	}
	rng := rand.New(rand.NewPCG(3, 3))
	const dim, ffn, vocab, layers = 768, 2048, 32000, 12
	type mat struct {
		w       []byte
		t       gguf.Type
		out, in int
	}
	var mats []mat
	add := func(t gguf.Type, out, in int) { mats = append(mats, mat{randomQ(rng, t, out, in), t, out, in}) }
	for l := range layers {
		big := l == 0 || l == 3 || l == 6 || l == 9 || l == 11
		v, d := gguf.TypeQ4_K, gguf.TypeQ4_K
		if big {
			v, d = gguf.TypeQ6_K, gguf.TypeQ6_K
		}
		add(gguf.TypeQ4_K, dim, dim)
		add(gguf.TypeQ4_K, dim, dim)
		add(v, dim, dim)
		add(gguf.TypeQ4_K, dim, dim)
		add(gguf.TypeQ4_K, ffn, dim)
		add(gguf.TypeQ4_K, ffn, dim)
		add(d, dim, ffn)
	}
	add(gguf.TypeQ6_K, vocab, dim)
	bytes := 0
	for _, m := range mats {
		bytes += len(m.w)
	}
	x, out := randVec(rng, ffn), make([]float32, vocab)
	p := NewPool(2)
	defer p.Close()
	rows := map[gguf.Type]func(out *float32, xq *byte, w *byte, ldw, nb, cols int){}
	for _, typ := range []gguf.Type{gguf.TypeQ4_K, gguf.TypeQ6_K} {
		rows[typ] = intDots[typ].row
	}
	var times [2][]float64
	for round := range 61 {
		for v := range 2 {
			for typ, r := range rows {
				if v == 0 {
					r = nil
				}
				intDots[typ].row = r
			}
			st := time.Now()
			for _, m := range mats {
				MatMulQ8(p, out, x, m.w, m.t, 1, m.in, m.out)
			}
			if round > 0 {
				times[v] = append(times[v], time.Since(st).Seconds())
			}
		}
	}
	for typ, r := range rows {
		intDots[typ].row = r
	}
	line := fmt.Sprintf("decode %.1f MB", float64(bytes)/1e6)
	for v, ts := range times {
		slices.Sort(ts)
		line += fmt.Sprintf("  %s best %.1f med %.1f tok/s (%.1f GB/s med)", []string{"tiles", "row"}[v], 1/ts[0], 1/ts[len(ts)/2], float64(bytes)/ts[len(ts)/2]/1e9)
	}
	t.Log(line)
}

// TestDotKChunks is a measuring tool (GRAFT_DOTK_AB=1 -v): one thread over
// cold 768×768 matrices in chunks of n columns, as the pool hands them out,
// 1×4 tiles in order against row; it set rowMinStream.
func TestDotKChunks(t *testing.T) {
	if os.Getenv("GRAFT_DOTK_AB") == "" {
		t.Skip("GRAFT_DOTK_AB unset")
	}
	rng := rand.New(rand.NewPCG(12, 14))
	for _, typ := range []gguf.Type{gguf.TypeQ4_K, gguf.TypeQ6_K} {
		const out, in, copies = 768, 768, 300
		var ws [][]byte
		for range copies {
			ws = append(ws, randomQ(rng, typ, out, in))
		}
		nb, rb := in/256, in/256*typ.BlockBytes()
		xq := quantizeRows(randVec(rng, in), 1, in)
		o := make([]float32, out)
		k := dotkAVX2[typ]
		row := k.streams().row
		for _, chunk := range []int{16, 24, 48, 96, 192, 768} {
			var res [2][]float64
			i := 0
			for round := range 21 {
				for mode := range 2 {
					st := time.Now()
					for range 50 {
						w := ws[i%copies]
						i++
						for c0 := 0; c0 < out; c0 += chunk {
							if mode == 1 {
								row(&o[c0], &xq[0], &w[c0*rb], rb, nb, chunk)
								continue
							}
							for c := c0; c < c0+chunk; c += 4 {
								k.tiles(&o[c], 0, &xq[0], 0, &w[c*rb], rb, nb, 1, 4)
							}
						}
					}
					if round > 0 {
						res[mode] = append(res[mode], time.Since(st).Seconds()/50)
					}
				}
			}
			line := fmt.Sprintf("%s chunk %4d", typ, chunk)
			for mode, v := range res {
				slices.Sort(v)
				line += fmt.Sprintf("  %s min %.2f med %.2f ns/blk", []string{"tiles", "row"}[mode], v[0]*1e9/float64(out*nb), v[len(v)/2]*1e9/float64(out*nb))
			}
			t.Log(line)
		}
	}
}
