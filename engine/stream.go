package engine

import (
	"context"
	"sync"

	"github.com/graft-ai/graft/engine/sample"
)

// FinishReason says why a sequence ended; empty while it runs.
type FinishReason string

const (
	FinishStop      FinishReason = "stop"
	FinishLength    FinishReason = "length"
	FinishCancelled FinishReason = "cancelled"
	FinishError     FinishReason = "error"
)

// Token is one generated token.
type Token struct {
	ID      int32
	Logprob float32
	Top     []sample.TokenLogprob // the top_logprobs alternatives, when asked for
}

// Event is what a Stream yields: tokens with the text they completed, and, on the
// last event, the finish reason and usage.
type Event struct {
	Tokens           []Token
	Text             string
	Finish           FinishReason
	Err              error
	PromptTokens     int
	CompletionTokens int
}

// Stream delivers one request's events. The engine loop never blocks on a slow
// reader: events queue here until Next takes them.
type Stream struct {
	mu      sync.Mutex
	pending []Event
	done    bool
	signal  chan struct{}
	cancel  func()
	// PromptIDs are the prompt's token ids as the engine saw them.
	PromptIDs []int32
}

func newStream(prompt []int32) *Stream {
	return &Stream{signal: make(chan struct{}, 1), PromptIDs: prompt}
}

func (s *Stream) push(e Event) {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return
	}
	s.pending = append(s.pending, e)
	s.done = e.Finish != ""
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
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

// Cancel stops the sequence and frees its cache at once; a final event with
// FinishCancelled follows.
func (s *Stream) Cancel() { s.cancel() }

// Collect reads the whole stream into one event: all tokens, all text, the finish.
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
			all.PromptTokens, all.CompletionTokens = e.PromptTokens, e.CompletionTokens
		}
	}
}
