package engine

import (
	"slices"
	"time"

	"github.com/graft-ai/graft/engine/grammar"
	"github.com/graft-ai/graft/engine/kvcache"
	"github.com/graft-ai/graft/engine/sample"
	"github.com/graft-ai/graft/engine/tokenizer"
)

// sequence is the engine loop's state for one request. Only the loop touches it,
// except stream (safe for concurrent use).
type sequence struct {
	id        uint64
	index     int // which of the request's N sequences
	req       Request
	tokens    []int32 // prompt, then generated tokens
	promptLen int
	sampler   *sample.Sampler
	decoder   *tokenizer.StreamDecoder
	stops     *sample.StopMatcher
	matcher   *grammar.Matcher // nil: unconstrained
	stream    *Stream          // shared by the request's sequences
	// forks are the request's other sequences until the prompt is sampled: this
	// sequence carries the prompt for all of them, then they split off.
	forks []*sequence
	// hashes name the sequence's full blocks for the prefix cache, the prompt's
	// then those its tokens fill (nil with the cache off); root is the
	// adapter's digest they chain from; fresh are those not yet reported.
	hashes []kvcache.BlockHash
	root   [32]byte
	fresh  []kvcache.BlockHash
	// cached is how many prompt tokens the prefix cache supplied when the
	// sequence first started; started says that happened.
	cached   int
	started  bool
	admitted time.Time    // when started became true (for tracing)
	finish   FinishReason // set when the loop has decided the sequence ends
	err      error
	ended    bool
}

// newSequence makes sequence index of request r. Sequence i samples with
// seed+i, so it equals a single request with that seed.
func (e *Engine) newSequence(id uint64, index int, r *Request, stream *Stream) *sequence {
	p := r.Sampling
	if p.HasSeed {
		p.Seed += uint64(index)
	}
	s := &sequence{
		id: id, index: index, req: *r, promptLen: len(r.Prompt),
		tokens:  append(make([]int32, 0, len(r.Prompt)+r.MaxTokens), r.Prompt...),
		sampler: sample.New(p, e.m.Config.Vocab),
		decoder: e.loaded.Tokenizer.NewStreamDecoder(true),
		stream:  stream,
	}
	var opts []sample.StopOption
	if r.IncludeStopStr {
		opts = append(opts, sample.IncludeStop())
	}
	s.stops = sample.NewStopMatcher(r.Stop, opts...)
	if r.Grammar != nil {
		s.matcher = r.Grammar.NewMatcher(e.vocab())
	}
	return s
}

func (s *sequence) generated() []int32 { return s.tokens[s.promptLen:] }

// accept appends a sampled token, streams its text and reports whether the
// sequence stops here (end of sequence, a stop id or a stop string).
func (e *Engine) accept(s *sequence, r sample.Result) bool {
	s.tokens = append(s.tokens, r.Token)
	e.hashFilled(s)
	if s.matcher != nil {
		s.matcher.Advance(r.Token)
	}
	tok := Token{ID: r.Token, Logprob: r.Logprob}
	if len(r.Top) > 0 {
		tok.Top = slices.Clone(r.Top)
	}
	ev := Event{Index: s.index, Tokens: []Token{tok}, Admitted: s.admitted, BatchSize: len(e.batchSeqs)}
	e.generationTokens.Add(1)
	// A constrained sequence is only offered the end of sequence once its
	// document is complete, so there it ends even under IgnoreEOS.
	stopID := (e.eos[r.Token] && (!s.req.IgnoreEOS || s.matcher != nil)) || slices.Contains(s.req.StopTokenIDs, r.Token)
	if stopID {
		s.finish = FinishStop
		ev.Text = s.flushText(false)
		s.stream.push(ev)
		return true
	}
	delta, err := s.decoder.Push(r.Token)
	if err != nil {
		s.finish, s.err = FinishError, err
		s.stream.push(ev)
		return true
	}
	emit, stopped := s.stops.Push(delta)
	if !stopped && s.matcher != nil && s.matcher.Done() {
		// The document is complete and nothing may follow it.
		stopped = true
		emit += s.flushText(false)
	}
	ev.Text = emit
	if stopped {
		s.finish = FinishStop
	}
	s.stream.push(ev)
	return stopped
}

// flushText returns the text still held by the decoder and the stop matcher.
// After a stop string nothing more is emitted.
func (s *sequence) flushText(afterStopString bool) string {
	if afterStopString {
		return ""
	}
	tail, _ := s.decoder.Flush()
	emit, stopped := s.stops.Push(tail)
	if stopped {
		return emit
	}
	return emit + s.stops.Flush()
}

// end sends the final event and forgets the sequence, and the forks it still
// carries. Ending a sequence twice does nothing.
func (e *Engine) end(s *sequence, why FinishReason, err error) {
	if s.ended {
		return
	}
	s.ended = true
	ev := Event{Index: s.index, Finish: why, Err: err, PromptTokens: s.promptLen, CompletionTokens: len(s.generated()), Admitted: s.admitted,
		CachedTokens: s.cached}
	if why == FinishLength {
		ev.Text = s.flushText(false)
	}
	s.stream.push(ev)
	e.mu.Lock()
	delete(e.seqs, s.id)
	e.mu.Unlock()
	e.releaseAdapter(s.req.Adapter, 1)
	forks := s.forks
	s.forks = nil
	for _, f := range forks {
		e.end(f, why, err)
	}
}

// hashFilled names the block the last token filled, if it filled one, so the
// prefix cache can keep generated text too.
func (e *Engine) hashFilled(s *sequence) {
	bs := e.cfg.BlockSize
	n := len(s.tokens) / bs
	if s.hashes == nil || len(s.tokens)%bs != 0 || len(s.hashes) != n-1 {
		return
	}
	prev := kvcache.BlockHash(s.root)
	if n > 1 {
		prev = s.hashes[n-2]
	}
	h := kvcache.HashNext(s.root, prev, s.tokens[(n-1)*bs:])
	s.hashes = append(s.hashes, h)
	s.fresh = append(s.fresh, h)
}

// takeFresh returns the hashes not yet reported to the scheduler.
func (s *sequence) takeFresh() []kvcache.BlockHash {
	f := s.fresh
	s.fresh = nil
	return f
}
