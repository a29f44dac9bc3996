package engine

import (
	"context"
	"testing"
	"time"

	"github.com/graft-ai/graft/engine/grammar"
)

// BenchmarkConstrainedNeighbour times a batch of plain sequences beside one
// more sequence, plain or under a schema, in the same process, and reports
// the ratio: what a constrained request costs the batch it joins. The schema
// keeps the output in a string whose length is part of the matcher's state,
// so every step misses the mask cache: the worst case.
func BenchmarkConstrainedNeighbour(b *testing.B) {
	l := loadStories(b, "gguf")
	e := newEngine(b, l, Config{MaxNumSeqs: 16})
	g, err := grammar.Compile([]byte(`{"type":"object","properties":{"story":{"type":"string","minLength":100000}},"required":["story"]}`))
	if err != nil {
		b.Fatal(err)
	}
	prompt, _ := l.Tokenizer.Encode("Once upon a time", true)
	const plain, tokens = 7, 64
	batch := func(extra *grammar.Grammar) time.Duration {
		ctx := context.Background()
		start := time.Now()
		var streams []*Stream
		for i := range plain + 1 {
			r := Request{Prompt: prompt, Sampling: seededParams(uint64(i)), MaxTokens: tokens, IgnoreEOS: true}
			if i == plain {
				r.Grammar = extra
			}
			s, err := e.Generate(ctx, r)
			if err != nil {
				b.Fatal(err)
			}
			streams = append(streams, s)
		}
		for i, s := range streams {
			if ev := s.Collect(ctx); ev.CompletionTokens != tokens {
				b.Fatalf("sequence %d: %d tokens (%s)", i, ev.CompletionTokens, ev.Finish)
			}
		}
		return time.Since(start)
	}
	batch(g) // builds the vocabulary trie once
	var base, constrained time.Duration
	for b.Loop() {
		base += batch(nil)
		constrained += batch(g)
	}
	b.ReportMetric(float64(base.Microseconds())/float64(b.N)/1000, "plain-ms")
	b.ReportMetric(float64(constrained.Microseconds())/float64(b.N)/1000, "constrained-ms")
	b.ReportMetric(float64(constrained)/float64(base), "ratio")
}
