package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/gguf"
	"github.com/graft-ai/graft/engine/kernel"
)

// attnCase is a batch of sequences over a random cache: seqs[i] tokens of
// sequence i end at position ends[i].
type attnCase struct {
	heads, kvHeads, hd, bs, window int
	ends, counts                   []int
	layers                         int  // of the cache, all holding the same keys and values; 0 means 1
	ordered                        bool // blocks in allocation order, as a fresh engine hands them out
}

type attnSetup struct {
	b     *Backend
	c     *KVCache
	a     compute.Attention
	q     []float32
	k, v  [][][]float32 // per sequence, per position: kvHeads*hd
	tab   [][]int32
	scale float32
}

// newAttnSetup fills every position of every sequence with random keys and
// values through StoreKV, the blocks of the sequences interleaved and
// shuffled so that tables are not contiguous.
func newAttnSetup(t testing.TB, tc attnCase, rng *rand.Rand) *attnSetup {
	b := New(2)
	t.Cleanup(b.Close)
	width := tc.kvHeads * tc.hd
	blocks := 0
	for _, e := range tc.ends {
		blocks += e/tc.bs + 1
	}
	perm := rng.Perm(blocks)
	if tc.ordered {
		for i := range perm {
			perm[i] = i
		}
	}
	c := b.NewKVCache(max(tc.layers, 1), blocks, tc.bs, tc.kvHeads, tc.hd).(*KVCache)
	st := &attnSetup{b: b, c: c, scale: float32(1 / math.Sqrt(float64(tc.hd)))}
	next := 0
	for _, e := range tc.ends {
		var table []int32
		for range e/tc.bs + 1 {
			table = append(table, int32(perm[next]))
			next++
		}
		st.tab = append(st.tab, table)
		k, v := make([][]float32, e+1), make([][]float32, e+1)
		for p := range e + 1 {
			k[p], v[p] = randVec(rng, width), randVec(rng, width)
			slot := table[p/tc.bs]*int32(tc.bs) + int32(p%tc.bs)
			for l := range max(tc.layers, 1) {
				b.StoreKV(c, l, Buffer(k[p]), Buffer(v[p]), []int32{slot})
			}
		}
		st.k, st.v = append(st.k, k), append(st.v, v)
	}
	st.a = compute.Attention{Tables: st.tab, Window: tc.window, Heads: tc.heads, KVHeads: tc.kvHeads, HeadDim: tc.hd, Scale: st.scale}
	for s, e := range tc.ends {
		for p := e - tc.counts[s] + 1; p <= e; p++ {
			st.a.Positions = append(st.a.Positions, int32(p))
			st.a.Seq = append(st.a.Seq, int32(s))
		}
	}
	st.q = randVec(rng, len(st.a.Seq)*tc.heads*tc.hd)
	return st
}

func randVec(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

var attnCases = []attnCase{
	{heads: 4, kvHeads: 4, hd: 64, bs: 16, ends: []int{300}, counts: []int{1}},
	{heads: 8, kvHeads: 2, hd: 64, bs: 16, ends: []int{40, 7, 90}, counts: []int{41, 1, 3}},
	{heads: 6, kvHeads: 3, hd: 20, bs: 5, ends: []int{33, 12}, counts: []int{20, 13}, window: 9},
	{heads: 2, kvHeads: 1, hd: 136, bs: 24, ends: []int{100}, counts: []int{70}, window: 50},
	{heads: 3, kvHeads: 3, hd: 7, bs: 3, ends: []int{0, 10}, counts: []int{1, 11}},
}

// TestAttendMatchesFloat64 compares every output with attention computed in
// float64 from the same keys, values and queries.
func TestAttendMatchesFloat64(t *testing.T) {
	for i, tc := range attnCases {
		st := newAttnSetup(t, tc, rand.New(rand.NewPCG(uint64(i), 1)))
		out := make(Buffer, len(st.q))
		st.b.Attend(out, Buffer(st.q), st.c, 0, &st.a)
		worst := 0.0
		for r := range st.a.Seq {
			for h := range tc.heads {
				want := st.float64Head(tc, r, h)
				for d, w := range want {
					worst = max(worst, math.Abs(float64(out[(r*tc.heads+h)*tc.hd+d])-w))
				}
			}
		}
		t.Logf("case %d: largest difference from float64 %.3g", i, worst)
		if worst > 2e-6 {
			t.Errorf("case %d %+v: largest difference from float64 %g", i, tc, worst)
		}
	}
}

func (st *attnSetup) float64Head(tc attnCase, r, h int) []float64 {
	s, pos := st.a.Seq[r], int(st.a.Positions[r])
	first := firstPos(&st.a, r)
	kvh := h / (tc.heads / tc.kvHeads)
	q := st.q[(r*tc.heads+h)*tc.hd:][:tc.hd]
	w := make([]float64, pos+1)
	m := math.Inf(-1)
	for p := first; p <= pos; p++ {
		for d := range tc.hd {
			w[p] += float64(q[d]) * float64(st.k[s][p][kvh*tc.hd+d])
		}
		w[p] *= float64(st.scale)
		m = max(m, w[p])
	}
	sum := 0.0
	for p := first; p <= pos; p++ {
		w[p] = math.Exp(w[p] - m)
		sum += w[p]
	}
	o := make([]float64, tc.hd)
	for p := first; p <= pos; p++ {
		for d := range o {
			o[d] += w[p] / sum * float64(st.v[s][p][kvh*tc.hd+d])
		}
	}
	return o
}

// TestAttendBatchInvariant: every token's output has the same bits when it
// is attended alone, as a decode step would, as in the whole batch.
func TestAttendBatchInvariant(t *testing.T) {
	for i, tc := range attnCases {
		st := newAttnSetup(t, tc, rand.New(rand.NewPCG(uint64(i), 2)))
		n := tc.heads * tc.hd
		out := make(Buffer, len(st.q))
		st.b.Attend(out, Buffer(st.q), st.c, 0, &st.a)
		alone := make(Buffer, n)
		for r := range st.a.Seq {
			a := st.a
			a.Positions, a.Seq = a.Positions[r:r+1], a.Seq[r:r+1]
			st.b.Attend(alone, Buffer(st.q[r*n:(r+1)*n]), st.c, 0, &a)
			for j, v := range alone {
				if math.Float32bits(v) != math.Float32bits(out[r*n+j]) {
					t.Fatalf("case %d token %d: alone %v, in the batch %v at %d", i, r, v, out[r*n+j], j)
				}
			}
		}
	}
}

// BenchmarkAttendDecode times one layer of one decode token on the 110M
// shape (12 heads of 64, blocks of 16) on one thread: the streamed block
// kernels against the blocked matmuls they replaced. Bytes are the K and V
// the step reads.
func BenchmarkAttendDecode(b *testing.B) {
	for _, ctx := range []int{64, 384, 1024} {
		tc := attnCase{heads: 12, kvHeads: 12, hd: 64, bs: 16, ends: []int{ctx - 1}, counts: []int{1}}
		st := newAttnSetup(b, tc, rand.New(rand.NewPCG(1, 1)))
		out := make([]float32, len(st.q))
		bytes := int64(ctx * tc.kvHeads * tc.hd * 8)
		b.Run(fmt.Sprintf("ctx=%d/streamed", ctx), func(b *testing.B) {
			b.SetBytes(bytes)
			sc := &attnScratch{}
			for b.Loop() {
				for kvh := range tc.kvHeads {
					st.c.attend(out, st.q, 0, &st.a, attnTask{t0: 0, t1: 1, kvh: kvh}, sc)
				}
			}
		})
		b.Run(fmt.Sprintf("ctx=%d/blocked", ctx), func(b *testing.B) {
			b.SetBytes(bytes)
			sc := &blockedScratch{}
			for b.Loop() {
				for kvh := range tc.kvHeads {
					blockedAttend(st.c, out, st.q, 0, &st.a, attnTask{t0: 0, t1: 1, kvh: kvh}, sc)
				}
			}
		})
	}
}

type blockedScratch struct {
	q, s, tmp, p, o []float32
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// blockedAttend is the attention this package had before the block kernels
// (scores and values as small MatMuls per block, keys by slot and values by
// dimension), kept for the benchmark. It reads the cache in its present
// layout: the values are wrong, the work is the same.
func blockedAttend(c *KVCache, out, q []float32, layer int, a *compute.Attention, task attnTask, sc *blockedScratch) {
	group, hd, bs := a.Heads/a.KVHeads, a.HeadDim, c.blockSize
	rows := (task.t1 - task.t0) * group
	table := a.Tables[a.Seq[task.t0]]
	first, last := firstPos(a, task.t0), int(a.Positions[task.t0])
	for t := task.t0; t < task.t1; t++ {
		first, last = min(first, firstPos(a, t)), max(last, int(a.Positions[t]))
	}
	b0, b1 := first/bs, last/bs
	cols := (b1 - b0 + 1) * bs
	sc.q, sc.s = grow(sc.q, rows*hd), grow(sc.s, rows*cols)
	sc.tmp, sc.p, sc.o = grow(sc.tmp, rows*max(bs, hd)), grow(sc.p, rows*bs), grow(sc.o, rows*hd)
	for r := 0; r < rows; r++ {
		t, h := task.t0+r/group, task.kvh*group+r%group
		copy(sc.q[r*hd:(r+1)*hd], q[(t*a.Heads+h)*hd:(t*a.Heads+h+1)*hd])
	}
	ks, vs := c.k[layer], c.v[layer]
	for blk := b0; blk <= b1; blk++ {
		base := c.block(table[blk], task.kvh)
		kernel.MatMul(nil, sc.tmp[:rows*bs], sc.q, ks[base:base+bs*hd], rows, hd, bs)
		for r := 0; r < rows; r++ {
			copy(sc.s[r*cols+(blk-b0)*bs:r*cols+(blk-b0+1)*bs], sc.tmp[r*bs:(r+1)*bs])
		}
	}
	for r := 0; r < rows; r++ {
		t := task.t0 + r/group
		row := sc.s[r*cols : (r+1)*cols]
		lo, hi := firstPos(a, t)-b0*bs, int(a.Positions[t])-b0*bs+1
		kernel.Scale(row[lo:hi], a.Scale)
		kernel.Softmax(row[lo:hi])
		clear(row[:lo])
		clear(row[hi:])
	}
	clear(sc.o)
	for blk := b0; blk <= b1; blk++ {
		for r := 0; r < rows; r++ {
			copy(sc.p[r*bs:(r+1)*bs], sc.s[r*cols+(blk-b0)*bs:r*cols+(blk-b0+1)*bs])
		}
		base := c.block(table[blk], task.kvh)
		kernel.MatMul(nil, sc.tmp[:rows*hd], sc.p, vs[base:base+bs*hd], rows, bs, hd)
		kernel.Add(sc.o, sc.o, sc.tmp[:rows*hd])
	}
	for r := 0; r < rows; r++ {
		t, h := task.t0+r/group, task.kvh*group+r%group
		copy(out[(t*a.Heads+h)*hd:(t*a.Heads+h+1)*hd], sc.o[r*hd:(r+1)*hd])
	}
}

// BenchmarkAttendPrefill times one layer of a 512-token prompt on one
// thread, in Attend's tasks of attnRows tokens per head.
func BenchmarkAttendPrefill(b *testing.B) {
	tc := attnCase{heads: 12, kvHeads: 12, hd: 64, bs: 16, ends: []int{511}, counts: []int{512}}
	st := newAttnSetup(b, tc, rand.New(rand.NewPCG(1, 1)))
	out := make([]float32, len(st.q))
	b.Run("streamed", func(b *testing.B) {
		sc := &attnScratch{}
		for b.Loop() {
			for t0 := 0; t0 < 512; t0 += attnRows {
				for kvh := range tc.kvHeads {
					st.c.attend(out, st.q, 0, &st.a, attnTask{t0: t0, t1: t0 + attnRows, kvh: kvh}, sc)
				}
			}
		}
	})
	b.Run("blocked", func(b *testing.B) {
		sc := &blockedScratch{}
		for b.Loop() {
			for t0 := 0; t0 < 512; t0 += attnRows {
				for kvh := range tc.kvHeads {
					blockedAttend(st.c, out, st.q, 0, &st.a, attnTask{t0: t0, t1: t0 + attnRows, kvh: kvh}, sc)
				}
			}
		}
	})
}

// BenchmarkAttendDecodeDRAM is BenchmarkAttendDecode over 48 MB of cache
// layers taken in turn, as a decode step finds them: out of cache, after
// the weights went through.
func BenchmarkAttendDecodeDRAM(b *testing.B) {
	for _, ctx := range []int{64, 384} {
		layers := (48 << 20) / (ctx * 12 * 64 * 8)
		tc := attnCase{heads: 12, kvHeads: 12, hd: 64, bs: 16, ends: []int{ctx - 1}, counts: []int{1}, layers: layers, ordered: true}
		st := newAttnSetup(b, tc, rand.New(rand.NewPCG(1, 1)))
		out := make([]float32, len(st.q))
		bytes := int64(ctx * tc.kvHeads * tc.hd * 8)
		b.Run(fmt.Sprintf("ctx=%d/streamed", ctx), func(b *testing.B) {
			b.SetBytes(bytes)
			sc, l := &attnScratch{}, 0
			for b.Loop() {
				for kvh := range tc.kvHeads {
					st.c.attend(out, st.q, l, &st.a, attnTask{t0: 0, t1: 1, kvh: kvh}, sc)
				}
				l = (l + 1) % layers
			}
		})
		b.Run(fmt.Sprintf("ctx=%d/blocked", ctx), func(b *testing.B) {
			b.SetBytes(bytes)
			sc, l := &blockedScratch{}, 0
			for b.Loop() {
				for kvh := range tc.kvHeads {
					blockedAttend(st.c, out, st.q, l, &st.a, attnTask{t0: 0, t1: 1, kvh: kvh}, sc)
				}
				l = (l + 1) % layers
			}
		})
	}
}

// TestKVCacheOffHeap: a cache's keys and values are not on the Go heap,
// whose collector would otherwise let garbage grow to their size again
// before it ran (mapped.OffHeap).
func TestKVCacheOffHeap(t *testing.T) {
	b := New(1)
	defer b.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f32 := b.NewKVCache(4, 256, 16, 8, 64)    // 2 × 32 MiB
	f16 := b.NewKVCacheF16(4, 256, 16, 8, 64) // 2 × 16 MiB
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Errorf("the heap grew by %d bytes for 96 MiB of caches", grew)
	}
	runtime.KeepAlive(f32)
	runtime.KeepAlive(f16)
}

// TestQuantizedOnLoadOffHeap: weights the backend encodes into a matrix of
// its own (a model quantized on load) are outside the Go heap, like the KV
// cache.
func TestQuantizedOnLoadOffHeap(t *testing.T) {
	b := New(1)
	defer b.Close()
	const rows, cols = 4096, 4096 // 17 MiB of Q8_0
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	q, ok := b.MatrixQuantized(gguf.TypeQ8_0, rows, cols, func(dst []byte) {
		for i := range dst {
			dst[i] = 1
		}
	})
	runtime.ReadMemStats(&after)
	if !ok || mat(q).q[len(mat(q).q)-1] != 1 {
		t.Fatal("MatrixQuantized did not fill a Q8_0 matrix")
	}
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Errorf("the heap grew by %d bytes for 17 MiB of weights quantized on load", grew)
	}
	if _, ok := b.MatrixQuantized(gguf.TypeQ8_0, rows, 17, func([]byte) { t.Fatal("fill called for a refused shape") }); ok {
		t.Error("a Q8_0 matrix of 17 columns was accepted")
	}
	runtime.KeepAlive(q)
}
