//go:build goexperiment.simd && amd64

package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine/gguf"
)

// BenchmarkPackedQ4_0VNNI compares packed Q4_0's AVX2 kernels with their
// VNNI twins on one thread: 32 activation rows (prefill and batched
// decode, the tiles) and a lone row (the streams), against 2048 weight
// rows of 768, in G weights/s; vnni/avx2 is the ratio to the AVX2 run
// just before it. Run with -count to alternate them.
func BenchmarkPackedQ4_0VNNI(b *testing.B) {
	if !hasVNNI512() {
		b.Skip("no AVX-512 VNNI")
	}
	const out, in = 2048, 768
	r := rand.New(rand.NewPCG(12, 41))
	t := gguf.TypeQ4_0
	w := packed(t, randomQ(r, t, out, in), out, in)
	saved := *packings[t].dot
	defer func() { *packings[t].dot = saved }()
	for _, rows := range []int{1, 32} {
		x := randomX(r, rows*in)
		res := make([]float32, rows*out)
		gw := map[string]float64{}
		for _, k := range []struct {
			name string
			rows *[4]dot8Func
			s4   dot8Func
		}{{"avx2", &dot8Q4_0x8AVX2, dot8Q4_0x8s4}, {"vnni", &dot8Q4_0x8VNNI, dot8Q4_0x8s4v}} {
			install(t, actQ8_0S, quantizeQ8_0Sums, k.rows, k.s4)
			id := packings[t].dot
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
}
