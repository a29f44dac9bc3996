//go:build goexperiment.simd && amd64

package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/graft-ai/graft/engine/gguf"
)

// BenchmarkPackedVNNI compares the packed types' AVX2 kernels with their
// VNNI twins on one thread, against 2048 weight rows of 768, in G
// weights/s: 32 activation rows (prefill and batched decode, the tiles)
// and a lone row (the streams). Both run in turn in one loop
// (benchPair).
func BenchmarkPackedVNNI(b *testing.B) {
	if !hasVNNI512() {
		b.Skip("no AVX-512 VNNI")
	}
	for _, k := range x8Kernels {
		benchPacked(b, k.typ, []int{1, 32}, avx2VNNI, func() { k.use(&k.avx2, k.avx2s4) }, func() { k.use(&k.vnni, k.vnnis4) })
	}
	q6 := gguf.TypeQ6_K
	benchPacked(b, q6, []int{1, 32}, avx2VNNI, packedK(q6, dotkPackedAVX2[q6]), packedK(q6, dotkPackedVNNI[q6]))
}

// BenchmarkPackedGFNI compares packed Q2_K's and Q3_K's AVX2 kernels, and
// Q6_K's and the lone rows' of Q4_K and the 32-value types VNNI ones, with
// their GFNI twins, as BenchmarkPackedVNNI does: a lone row and 32 rows.
func BenchmarkPackedGFNI(b *testing.B) {
	if !hasGFNI512() {
		b.Skip("no AVX-512 GFNI")
	}
	for _, t := range []gguf.Type{gguf.TypeQ2_K, gguf.TypeQ3_K} {
		benchPacked(b, t, []int{1, 32}, [2]string{"avx2", "gfni"}, packedK(t, dotkPackedAVX2[t]), packedK(t, dotkPackedGFNI[t]))
	}
	// Q6_K's twin and the lone rows' against the VNNI ones they improve on
	q6 := gguf.TypeQ6_K
	vnniGFNI := [2]string{"vnni", "gfni"}
	benchPacked(b, q6, []int{1, 32}, vnniGFNI, packedK(q6, dotkPackedVNNI[q6]), packedK(q6, dotkPackedGFNI[q6]))
	for _, k := range x8Kernels {
		benchPacked(b, k.typ, []int{1}, vnniGFNI, func() { k.use(&k.vnni, k.vnnis4) },
			func() { k.use(&k.gfni, k.gfnis4) })
	}
}

// avx2VNNI names benchPair's kernels where the twins are VNNI's.
var avx2VNNI = [2]string{"avx2", "vnni"}

// packedK installs packed K-quant set k for type t, for benchPacked.
func packedK(t gguf.Type, k *dotkSet) func() { return func() { installPackedK(t, k) } }

// benchPacked times MatMulQ8 on packed weights of type t for each number
// of rows, with t's kernels as avx2 and then as vnni installs them.
func benchPacked(b *testing.B, t gguf.Type, rowCounts []int, names [2]string, base, twin func()) {
	const out, in = 2048, 768
	r := rand.New(rand.NewPCG(12, 41))
	w := packed(t, randomQ(r, t, out, in), out, in)
	saved := packings[t].dot
	defer func() { packings[t].dot = saved }()
	var ids [2]*intDot
	for i, set := range []func(){base, twin} {
		set() // each installer puts a fresh intDot in place
		ids[i] = packings[t].dot
	}
	for _, rows := range rowCounts {
		benchPair(b, t, w, rows, in, out, ids, names)
	}
}

// benchPair times matMulQ8 of rows rows by w (out rows of in values of
// type t) with the dots of ids[0] and of their twins ids[1] in turn within
// one loop, so that a host whose speed drifts moves both alike, and reports
// each in G weights/s (named names[i]) and the twins' speed-up.
func benchPair(b *testing.B, t gguf.Type, w []byte, rows, in, out int, ids [2]*intDot, names [2]string) {
	r := rand.New(rand.NewPCG(uint64(rows), 45))
	x := randomX(r, rows*in)
	res := make([]float32, rows*out)
	b.Run(fmt.Sprintf("%s/rows=%d", t, rows), func(b *testing.B) {
		var d [2]time.Duration
		for b.Loop() {
			for i, id := range ids {
				t0 := time.Now()
				matMulQ8(nil, res, x, w, t, id, rows, in, out)
				d[i] += time.Since(t0)
			}
		}
		for i, name := range names {
			b.ReportMetric(float64(b.N*rows*out*in)/d[i].Seconds()/1e9, "Gw/s-"+name)
		}
		b.ReportMetric(d[0].Seconds()/d[1].Seconds(), names[1]+"/"+names[0])
	})
}

// BenchmarkDotKVNNI compares the stored K-quant types' AVX2 kernels with
// their VNNI twins (dotkVNNI) on one thread, against 2048 weight rows of
// 768 as stored, in G weights/s: a lone row (decode's strided streams) and
// 32 rows (the tiles), both in turn in one loop (benchPair).
func BenchmarkDotKVNNI(b *testing.B) {
	if !hasVNNI512() {
		b.Skip("no AVX-512 VNNI")
	}
	const out, in = 2048, 768
	r := rand.New(rand.NewPCG(12, 43))
	for _, t := range []gguf.Type{gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ2_K, gguf.TypeQ3_K} {
		w := randomQ(r, t, out, in)
		var ids [2]*intDot
		for i, k := range []*dotkSet{dotkAVX2[t], dotkVNNI[t]} {
			id := *intDots[t]
			id.dot, id.row = k.tiles, k.streams().row
			ids[i] = &id
		}
		for _, rows := range []int{1, 32} {
			benchPair(b, t, w, rows, in, out, ids, avx2VNNI)
		}
	}
}

// BenchmarkDot81VNNI compares Q4_1's and Q5_1's lone-row AVX2 kernels with
// their AVX-512 twins (dot81LoneVNNI) as BenchmarkDotKVNNI does.
func BenchmarkDot81VNNI(b *testing.B) {
	if !hasVNNI512() {
		b.Skip("no AVX-512 VNNI")
	}
	const out, in = 2048, 768
	for _, t := range []gguf.Type{gguf.TypeQ4_1, gguf.TypeQ5_1} {
		w := randomQ(rand.New(rand.NewPCG(12, 44)), t, out, in)
		var ids [2]*intDot
		for i, lone := range []streamRow{dot81AVX2[t].lone, dot81LoneVNNI[t]} {
			id := *intDots[t]
			id.row = lone.row
			ids[i] = &id
		}
		benchPair(b, t, w, 1, in, out, ids, avx2VNNI)
	}
}
