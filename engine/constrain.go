package engine

import (
	"sync"

	"github.com/graft-ai/graft/engine/grammar"
)

// vocab is the tokenizer's vocabulary as constrained decoding reads it, built
// on the first constrained request.
func (e *Engine) vocab() *grammar.Vocab {
	e.vocabOnce.Do(func() {
		tok := e.loaded.Tokenizer
		texts := make([][]byte, min(tok.VocabSize(), e.m.Config.Vocab))
		for id := range texts {
			texts[id] = tok.TokenBytes(int32(id))
		}
		eos := make([]int32, 0, len(e.eos))
		for id := range e.eos {
			eos = append(eos, id)
		}
		e.vocabTrie = grammar.NewVocab(e.m.Config.Vocab, texts, eos)
	})
	return e.vocabTrie
}

// startMasks computes the token masks of the constrained sequences about to
// be sampled while the forward pass runs: the next token's mask depends only
// on the tokens already chosen, so constraints add no time to a step unless
// their masks take longer than the pass itself. Unconstrained batches start
// nothing.
func (e *Engine) startMasks(seqs []*sequence) *sync.WaitGroup {
	wg := &e.maskWait
	for _, i := range e.sampled {
		s := seqs[i]
		if s == nil {
			continue
		}
		if s.matcher != nil {
			wg.Go(func() { s.matcher.Mask() })
		}
		for _, f := range s.forks {
			if f.matcher != nil {
				wg.Go(func() { f.matcher.Mask() })
			}
		}
	}
	return wg
}
