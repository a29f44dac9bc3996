package kernel

import "github.com/graft-ai/graft/engine/float16"

// Attention over a cache block stored in IEEE halves (a half KV cache): the
// kernels widen each half as they load it and otherwise follow AttnScores'
// and AttnValues' recipes, so they give the bits those give on the block
// widened to float32. The halves must be finite: the SIMD tails widen with
// integer moves that turn Inf and NaN into finite values.

var (
	attnScoresF16Impl = attnScoresF16Go
	attnValuesF16Impl = attnValuesF16Go
)

// AttnScoresF16 is AttnScores with kT in IEEE halves.
func AttnScoresF16(s, q []float32, kT []uint16, ld int) {
	if len(s) == 0 {
		return
	}
	checkLen("AttnScoresF16", len(s), ld)
	checkLen("AttnScoresF16", (len(q)-1)*ld+len(s), len(kT))
	attnScoresF16Impl(s, q, kT, ld)
}

// AttnValuesF16 is AttnValues with v in IEEE halves.
func AttnValuesF16(o, p []float32, v []uint16) {
	if len(p) == 0 {
		return
	}
	checkLen("AttnValuesF16", len(p)*len(o), len(v))
	attnValuesF16Impl(o, p, v)
}

func attnScoresF16Go(s, q []float32, kT []uint16, ld int) {
	h := float16.F16Table()
	for j := range s {
		var c [4]float32
		for d, x := range q {
			c[d&3] += x * h[kT[d*ld+j]]
		}
		s[j] = (c[0] + c[1]) + (c[2] + c[3])
	}
}

func attnValuesF16Go(o, p []float32, v []uint16) {
	h := float16.F16Table()
	hd := len(o)
	for d := range o {
		var acc float32
		for j, w := range p {
			acc += w * h[v[j*hd+d]]
		}
		o[d] += acc
	}
}
