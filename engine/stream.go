package engine

import (
	"context"
	"sync"
	"time"

	"github.com/graft-ai/graft/engine/sample"
	"github.com/graft-ai/graft/engine/scheduler"
)

// FinishReason says why a sequence ended; empty while it runs. It is the
// scheduler's type, so the engine has one set of reasons.
type FinishReason = scheduler.FinishReason

const (
	FinishStop      = scheduler.FinishStop
	FinishLength    = scheduler.FinishLength
	FinishCancelled = scheduler.FinishCancelled
	FinishError     = scheduler.FinishError
)

// Token is one generated token.
type Token struct {
	ID      int32
	Logprob float32
	Top     []sample.TokenLogprob // the top_logprobs alternatives, when asked for
}

// Event is what a Stream yields: tokens with the text they completed, and, on the
// last event of a sequence, the finish reason and usage.
type Event struct {
	// Index is the sequence the event belongs to, 0..Request.N-1.
	Index            int
	Tokens           []Token
	Text             string
	Finish           FinishReason
	Err              error
	PromptTokens     int
	CompletionTokens int
	// CachedTokens are the prompt tokens whose K/V came from the prefix cache
	// rather than being computed (OpenAI's prompt_tokens_details.cached_tokens).
	CachedTokens int
	// Admitted is when the scheduler first gave the sequence a place in a
	// batch (its prefill began): set on each of its events, zero for a fork
	// that rode on another sequence's prefill. Queue wait ends here.
	Admitted time.Time
	// BatchSize is how many sequences the forward pass that produced the
	// event ran together.
	BatchSize int
}

// Stream delivers one request's events, those of its N sequences interleaved.
// The engine loop never blocks on a slow reader: events queue here until Next
// takes them.
type Stream struct {
	mu        sync.Mutex
	pending   []Event
	live      int // sequences without their final event yet
	done      bool
	signal    chan struct{}
	cancel    func()
	stopWatch func() bool // stops watching the request's context
	// PromptIDs are the prompt's token ids as the engine saw them.
	PromptIDs []int32
}

func newStream(prompt []int32, n int) *Stream {
	return &Stream{signal: make(chan struct{}, 1), PromptIDs: prompt, live: n}
}

// push queues e; after the last sequence's final event it stops watching the
// request's context.
func (s *Stream) push(e Event) {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return
	}
	s.pending = append(s.pending, e)
	var stop func() bool
	if e.Finish != "" {
		s.live--
		if s.done = s.live <= 0; s.done {
			stop, s.stopWatch = s.stopWatch, nil
		}
	}
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// watch sets the function that stops watching the request's context, calling
// it at once if the stream already ended.
func (s *Stream) watch(stop func() bool) {
	s.mu.Lock()
	if !s.done {
		s.stopWatch, stop = stop, nil
	}
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// Next returns the next event; ok is false after the final event was returned or
// when ctx ends first.
func (s *Stream) Next(ctx context.Context) (Event, bool) {
	for {
		s.mu.Lock()
		if len(s.pending) > 0 {
			e := s.pending[0]
			s.pending = s.pending[1:]
			s.mu.Unlock()
			return e, true
		}
		finished := s.done
		s.mu.Unlock()
		if finished {
			return Event{}, false
		}
		select {
		case <-s.signal:
		case <-ctx.Done():
			return Event{}, false
		}
	}
}

// Cancel stops the request's sequences and frees their cache at once; a final
// event with FinishCancelled follows for each.
func (s *Stream) Cancel() { s.cancel() }

// Collect reads the whole stream of a one-sequence request into one event: all
// tokens, all text, the finish. CollectN splits a request of N sequences.
func (s *Stream) Collect(ctx context.Context) Event {
	var all Event
	for {
		e, ok := s.Next(ctx)
		if !ok {
			if all.Finish == "" {
				all.Finish, all.Err = FinishCancelled, ctx.Err()
			}
			return all
		}
		all.Tokens = append(all.Tokens, e.Tokens...)
		all.Text += e.Text
		if e.Finish != "" {
			all.Finish, all.Err = e.Finish, e.Err
			all.PromptTokens, all.CompletionTokens, all.CachedTokens = e.PromptTokens, e.CompletionTokens, e.CachedTokens
		}
	}
}

// CollectN reads the whole stream of a request of n sequences into one event
// per sequence, as Collect does for one.
func (s *Stream) CollectN(ctx context.Context, n int) []Event {
	all := make([]Event, n)
	for {
		e, ok := s.Next(ctx)
		if !ok {
			for i := range all {
				if all[i].Finish == "" {
					all[i].Finish, all[i].Err = FinishCancelled, ctx.Err()
				}
			}
			return all
		}
		if e.Index < 0 || e.Index >= n {
			continue
		}
		a := &all[e.Index]
		a.Index = e.Index
		a.Tokens = append(a.Tokens, e.Tokens...)
		a.Text += e.Text
		if e.Finish != "" {
			a.Finish, a.Err = e.Finish, e.Err
			a.PromptTokens, a.CompletionTokens, a.CachedTokens = e.PromptTokens, e.CompletionTokens, e.CachedTokens
		}
	}
}
