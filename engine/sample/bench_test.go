package sample

import (
	"fmt"
	"testing"
)

// BenchmarkSample covers the three common decoding modes at Llama-2 (32000)
// and Qwen2 (151936) vocabulary sizes. The logits are Gaussian with a wide
// spread, so top-p keeps a few hundred to a few thousand tokens.
func BenchmarkSample(b *testing.B) {
	modes := []struct {
		name string
		edit func(*Params)
	}{
		{"greedy", func(p *Params) { p.Temperature = 0 }},
		{"top_k=50", func(p *Params) { p.TopK = 50 }},
		{"top_p=0.9", func(p *Params) { p.TopP = 0.9 }},
		{"temperature=1", func(*Params) {}},
		{"top_p=0.9/logprobs=5", func(p *Params) { p.TopP = 0.9; p.Logprobs, p.TopLogprobs = true, 5 }},
	}
	for _, vocab := range []int{32000, 151936} {
		logits := randomLogits(1, vocab, 4)
		for _, m := range modes {
			b.Run(fmt.Sprintf("vocab=%d/%s", vocab, m.name), func(b *testing.B) {
				p := seeded(1)
				m.edit(&p)
				s := New(p, vocab)
				b.ReportAllocs()
				for b.Loop() {
					s.Sample(logits, nil, nil)
				}
			})
		}
	}
}
