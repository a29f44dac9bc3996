package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine/float16"
)

// halfCases add long contexts and wide groups to attnCases: decode at
// several context lengths, prefill chunks, GQA and MQA.
var halfCases = append(append([]attnCase(nil), attnCases...),
	attnCase{heads: 8, kvHeads: 2, hd: 64, bs: 16, ends: []int{1023}, counts: []int{1}},
	attnCase{heads: 8, kvHeads: 1, hd: 64, bs: 16, ends: []int{511, 128}, counts: []int{100, 1}, layers: 2},
	attnCase{heads: 12, kvHeads: 12, hd: 64, bs: 16, ends: []int{63, 200, 17}, counts: []int{64, 1, 18}},
)

// fillCache stores every position of st's sequences into c (its layers
// alike), each key and value rounded to half first when round is set.
func (st *attnSetup) fillCache(tc attnCase, c *KVCache, round bool) {
	for s, e := range tc.ends {
		for p := range e + 1 {
			k, v := st.k[s][p], st.v[s][p]
			if round {
				k, v = roundHalf(k), roundHalf(v)
			}
			slot := st.tab[s][p/tc.bs]*int32(tc.bs) + int32(p%tc.bs)
			for l := range max(tc.layers, 1) {
				st.b.StoreKV(c, l, Buffer(k), Buffer(v), []int32{slot})
			}
		}
	}
}

func roundHalf(x []float32) []float32 {
	out := make([]float32, len(x))
	for i, f := range x {
		out[i] = float16.F16ToFloat32(float16.Float32ToF16(f))
	}
	return out
}

// sameBits fails unless a and b hold the same float32 bit patterns.
func sameBits(t *testing.T, what string, a, b []float32) {
	t.Helper()
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("%s: element %d is %v, want %v", what, i, a[i], b[i])
		}
	}
}

// halfPair returns a half cache and a float32 cache holding the same keys
// and values, rounded to half, in the same blocks as st.c.
func (st *attnSetup) halfPair(tc attnCase) (half, rounded *KVCache) {
	layers := max(tc.layers, 1)
	half = st.b.NewKVCacheF16(layers, st.c.blocks, tc.bs, tc.kvHeads, tc.hd).(*KVCache)
	rounded = st.b.NewKVCache(layers, st.c.blocks, tc.bs, tc.kvHeads, tc.hd).(*KVCache)
	st.fillCache(tc, half, false)
	st.fillCache(tc, rounded, true)
	return half, rounded
}

// TestHalfCacheIsFloat32OnRoundedKV: attention over a half cache gives the
// bits of float32 attention over the keys and values rounded to half, for
// prefill chunks and decodes alike, in every layer.
func TestHalfCacheIsFloat32OnRoundedKV(t *testing.T) {
	for i, tc := range halfCases {
		st := newAttnSetup(t, tc, rand.New(rand.NewPCG(uint64(i), 3)))
		half, rounded := st.halfPair(tc)
		if half.k != nil || len(half.hk) != max(tc.layers, 1) {
			t.Fatal("NewKVCacheF16 did not keep halves")
		}
		for l := range max(tc.layers, 1) {
			got, want := make(Buffer, len(st.q)), make(Buffer, len(st.q))
			st.b.Attend(got, Buffer(st.q), half, l, &st.a)
			st.b.Attend(want, Buffer(st.q), rounded, l, &st.a)
			sameBits(t, "half cache vs float32 on rounded K/V", got, want)
		}
	}
}

// TestHalfCacheBatchInvariant: with a half cache too, a token attended alone
// gets the bits it gets in the batch.
func TestHalfCacheBatchInvariant(t *testing.T) {
	for i, tc := range halfCases {
		st := newAttnSetup(t, tc, rand.New(rand.NewPCG(uint64(i), 4)))
		half, _ := st.halfPair(tc)
		n := tc.heads * tc.hd
		out := make(Buffer, len(st.q))
		st.b.Attend(out, Buffer(st.q), half, 0, &st.a)
		alone := make(Buffer, n)
		for r := range st.a.Seq {
			a := st.a
			a.Positions, a.Seq = a.Positions[r:r+1], a.Seq[r:r+1]
			st.b.Attend(alone, Buffer(st.q[r*n:(r+1)*n]), half, 0, &a)
			sameBits(t, "alone vs in the batch", alone, out[r*n:(r+1)*n])
		}
	}
}

// TestHalfCacheCopyBlock: a block copied with CopyKVBlock into a spare block
// gives the same attention when the table points at the copy.
func TestHalfCacheCopyBlock(t *testing.T) {
	tc := attnCase{heads: 8, kvHeads: 2, hd: 64, bs: 16, ends: []int{40}, counts: []int{1}, layers: 3}
	st := newAttnSetup(t, tc, rand.New(rand.NewPCG(9, 9)))
	half, _ := st.halfPair(tc)
	spare := st.b.NewKVCacheF16(3, st.c.blocks+1, tc.bs, tc.kvHeads, tc.hd).(*KVCache)
	st.fillCache(tc, spare, false)
	for l := range 3 {
		want := make(Buffer, len(st.q))
		st.b.Attend(want, Buffer(st.q), half, l, &st.a)
		src := st.tab[0][1]
		st.b.CopyKVBlock(spare, src, int32(st.c.blocks))
		st.a.Tables[0][1] = int32(st.c.blocks)
		got := make(Buffer, len(st.q))
		st.b.Attend(got, Buffer(st.q), spare, l, &st.a)
		st.a.Tables[0][1] = src
		sameBits(t, "attention over a copied block", got, want)
	}
}

// TestHalfCacheOverflow: keys and values beyond the half range round to
// infinity, as float16 conversion does, and attention then sees infinity
// (widened exactly, not by the SIMD widening, which would make it finite).
func TestHalfCacheOverflow(t *testing.T) {
	tc := attnCase{heads: 2, kvHeads: 1, hd: 16, bs: 8, ends: []int{20}, counts: []int{21}}
	st := newAttnSetup(t, tc, rand.New(rand.NewPCG(5, 5)))
	st.v[0][3][2] = 1e6 // a value: outputs that weigh position 3 become +Inf
	half, rounded := st.halfPair(tc)
	if !half.nonFinite {
		t.Fatal("an overflowing value did not mark the half cache")
	}
	if got := half.values(make([]float32, tc.bs*tc.hd), 0, st.tab[0][0], 0).f[3*tc.hd+2]; !math.IsInf(float64(got), 1) {
		t.Fatalf("1e6 stored as %v, want +Inf", got)
	}
	got, want := make(Buffer, len(st.q)), make(Buffer, len(st.q))
	st.b.Attend(got, Buffer(st.q), half, 0, &st.a)
	st.b.Attend(want, Buffer(st.q), rounded, 0, &st.a)
	sameBits(t, "half cache with an Inf vs float32 on rounded K/V", got, want)
}

// BenchmarkAttendDecodeHalf times one decode token's attention per layer on
// the 110M shape, layers taken in turn out of cache as in a decode step, for
// a float32 and a half cache of the same layers. Bytes are the float32 K and V.
func BenchmarkAttendDecodeHalf(b *testing.B) {
	for _, ctx := range []int{128, 512, 2048} {
		layers := max(2, (48<<20)/(ctx*12*64*8))
		tc := attnCase{heads: 12, kvHeads: 12, hd: 64, bs: 16, ends: []int{ctx - 1}, counts: []int{1}, layers: layers, ordered: true}
		st := newAttnSetup(b, tc, rand.New(rand.NewPCG(1, 1)))
		half, _ := st.halfPair(tc)
		out := make([]float32, len(st.q))
		for _, c := range []struct {
			name  string
			cache *KVCache
		}{{"f32", st.c}, {"f16", half}} {
			b.Run(fmt.Sprintf("ctx=%d/%s", ctx, c.name), func(b *testing.B) {
				b.SetBytes(int64(ctx * tc.kvHeads * tc.hd * 8))
				sc, l := &attnScratch{}, 0
				for b.Loop() {
					for kvh := range tc.kvHeads {
						c.cache.attend(out, st.q, l, &st.a, attnTask{t0: 0, t1: 1, kvh: kvh}, sc)
					}
					l = (l + 1) % layers
				}
			})
		}
	}
}
