package benchmark

import (
	"math/rand/v2"

	"github.com/graft-ai/graft/engine/randmodel"
)

// leadTokens is the length of the shorter of the two decode runs whose
// difference is timed (see decode).
const leadTokens = 8

// workload is the token ids both engines run, so their numbers compare.
type workload struct {
	prefill []int32   // BOS and random ids
	prompts [][]int32 // one per decode stream, all different
	greedy  []int32   // BOS alone
	// agreement are the prompts on which greedy tokens of quantized files are
	// compared with llama.cpp's (only with Options.Weights).
	agreement [][]int32
}

func newWorkload(o Options) workload {
	rng := rand.New(rand.NewPCG(o.Spec.Seed, 0x62656e6368))
	prompt := func(n int) []int32 {
		p := []int32{randmodel.BOS}
		for len(p) < n {
			// Skip the special ids so that no prompt holds an EOS.
			p = append(p, int32(3+rng.IntN(o.Spec.Vocab-3)))
		}
		return p
	}
	w := workload{prefill: prompt(o.PrefillTokens), greedy: []int32{randmodel.BOS}}
	for range maxOf(o.Batches) {
		w.prompts = append(w.prompts, prompt(o.DecodePrompt))
	}
	if len(o.Weights) > 0 {
		for n := range agreementPrompts {
			w.agreement = append(w.agreement, prompt(1+4*n))
		}
	}
	return w
}

func maxOf(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
