//go:build goexperiment.simd && amd64

package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine/gguf"
)

// packedSet is one packed type's kernels under comparison.
type packedSet struct {
	name string
	rows *[4]dot8Func
	s4   dot8Func
}

// BenchmarkPackedVNNI compares the packed types' AVX2 kernels with their
// VNNI twins on one thread: 32 activation rows (prefill and batched
// decode, the tiles) and a lone row (the streams; Q4_K keeps its AVX2
// ones), against 2048 weight rows of 768, in G weights/s; vnni/avx2 is the
// ratio to the AVX2 run just before it. Run with -count to alternate them.
func BenchmarkPackedVNNI(b *testing.B) {
	if !hasVNNI512() {
		b.Skip("no AVX-512 VNNI")
	}
	benchPacked(b, gguf.TypeQ4_0, actQ8_0S, quantizeQ8_0Sums,
		[]packedSet{{"avx2", &dot8Q4_0x8AVX2, dot8Q4_0x8s4}, {"vnni", &dot8Q4_0x8VNNI, dot8Q4_0x8s4v}})
	benchPacked(b, gguf.TypeQ4_K, actQ8_K, quantizeQ8KAVX2,
		[]packedSet{{"avx2", &dot8Q4_Kx8AVX2, dot8Q4_Kx8s4}, {"vnni", &dot8Q4_Kx8VNNI, dot8Q4_Kx8s4}})
}

func benchPacked(b *testing.B, t gguf.Type, act actFormat, quantize func([]byte, []float32), sets []packedSet) {
	const out, in = 2048, 768
	r := rand.New(rand.NewPCG(12, 41))
	w := packed(t, randomQ(r, t, out, in), out, in)
	saved := *packings[t].dot
	defer func() { *packings[t].dot = saved }()
	for _, rows := range []int{1, 32} {
		x := randomX(r, rows*in)
		res := make([]float32, rows*out)
		gw := map[string]float64{}
		for _, k := range sets {
			install(t, act, quantize, k.rows, k.s4)
			id := packings[t].dot
			b.Run(fmt.Sprintf("%s/rows=%d/%s", t, rows, k.name), func(b *testing.B) {
				for b.Loop() {
					matMulQ8(nil, res, x, w, t, id, rows, in, out)
				}
				gw[k.name] = float64(rows*out*in) / (b.Elapsed().Seconds() / float64(b.N)) / 1e9
				b.ReportMetric(gw[k.name], "Gw/s")
				if k.name != sets[0].name {
					b.ReportMetric(gw[k.name]/gw[sets[0].name], k.name+"/"+sets[0].name)
				}
			})
		}
	}
}

// BenchmarkPackedQ6KVNNI is BenchmarkPackedVNNI for packed Q6_K's tiles
// (8 and 4 activation rows a tile at 32 rows; a lone row keeps the AVX2
// streams).
func BenchmarkPackedQ6KVNNI(b *testing.B) {
	if !hasVNNI512() {
		b.Skip("no AVX-512 VNNI")
	}
	const out, in, rows = 2048, 768, 32
	t := gguf.TypeQ6_K
	r := rand.New(rand.NewPCG(12, 42))
	w := packed(t, randomQ(r, t, out, in), out, in)
	x := randomX(r, rows*in)
	res := make([]float32, rows*out)
	id := packings[t].dot
	saved := id.dot
	defer func() { id.dot = saved }()
	gw := map[string]float64{}
	for _, k := range []struct {
		name string
		set  *dotkSet
	}{{"avx2", dotkPackedAVX2[t]}, {"vnni", dotkPackedVNNI[t]}} {
		id.dot = k.set.tiles
		b.Run(fmt.Sprintf("rows=%d/%s", rows, k.name), func(b *testing.B) {
			for b.Loop() {
				matMulQ8(nil, res, x, w, t, id, rows, in, out)
			}
			gw[k.name] = float64(rows*out*in) / (b.Elapsed().Seconds() / float64(b.N)) / 1e9
			b.ReportMetric(gw[k.name], "Gw/s")
			if k.name == "vnni" {
				b.ReportMetric(gw["vnni"]/gw["avx2"], "vnni/avx2")
			}
		})
	}
}
