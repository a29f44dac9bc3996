package engine

import (
	"slices"

	"github.com/graft-ai/graft/engine/sample"
	"github.com/graft-ai/graft/engine/tokenizer"
)

// sequence is the engine loop's state for one request. Only the loop touches it,
// except stream (safe for concurrent use).
type sequence struct {
	id        uint64
	req       Request
	tokens    []int32 // prompt, then generated tokens
	promptLen int
	sampler   *sample.Sampler
	decoder   *tokenizer.StreamDecoder
	stops     *sample.StopMatcher
	stream    *Stream
	stopWatch func() bool
	finish    FinishReason // set when the loop has decided the sequence ends
	err       error
}

func (e *Engine) newSequence(id uint64, r *Request) *sequence {
	s := &sequence{
		id: id, req: *r, promptLen: len(r.Prompt),
		tokens:  append(make([]int32, 0, len(r.Prompt)+r.MaxTokens), r.Prompt...),
		sampler: sample.New(r.Sampling, e.m.Config.Vocab),
		decoder: e.loaded.Tokenizer.NewStreamDecoder(true),
		stream:  newStream(slices.Clone(r.Prompt)),
	}
	var opts []sample.StopOption
	if r.IncludeStopStr {
		opts = append(opts, sample.IncludeStop())
	}
	s.stops = sample.NewStopMatcher(r.Stop, opts...)
	s.stream.cancel = func() { e.cancel(id) }
	return s
}

func (s *sequence) generated() []int32 { return s.tokens[s.promptLen:] }

// accept appends a sampled token, streams its text and reports whether the
// sequence stops here (end of sequence, a stop id or a stop string).
func (e *Engine) accept(s *sequence, r sample.Result) bool {
	s.tokens = append(s.tokens, r.Token)
	tok := Token{ID: r.Token, Logprob: r.Logprob}
	if len(r.Top) > 0 {
		tok.Top = slices.Clone(r.Top)
	}
	ev := Event{Tokens: []Token{tok}}
	stopID := (e.eos[r.Token] && !s.req.IgnoreEOS) || slices.Contains(s.req.StopTokenIDs, r.Token)
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

// end sends the final event and forgets the sequence.
func (e *Engine) end(s *sequence, why FinishReason, err error) {
	ev := Event{Finish: why, Err: err, PromptTokens: s.promptLen, CompletionTokens: len(s.generated())}
	if why == FinishLength {
		ev.Text = s.flushText(false)
	}
	s.stream.push(ev)
	if s.stopWatch != nil {
		s.stopWatch()
	}
	e.mu.Lock()
	delete(e.seqs, s.id)
	e.mu.Unlock()
	e.releaseAdapter(s.req.Adapter)
}
