package engine

import (
	"errors"
	"fmt"

	"github.com/graft-ai/graft/engine/grammar"
	"github.com/graft-ai/graft/engine/sample"
)

// Request is one generation request in token ids.
type Request struct {
	Prompt   []int32
	Adapter  string // "" for the base model
	Sampling sample.Params
	// MaxTokens is the most tokens to generate; 0 means up to the context length.
	MaxTokens      int
	Stop           []string
	StopTokenIDs   []int32
	IgnoreEOS      bool
	IncludeStopStr bool
	// N is the number of sequences sampled from the prompt (0 means 1). The
	// prompt is prefilled once and its KV blocks are shared; sequence i samples
	// with Sampling.Seed+i when a seed is set, else with its own random seed, so
	// the sequences equal N single requests with those seeds. Their events carry
	// Event.Index.
	N int
	// Merge, when set, runs the request on these adapters merged into one;
	// Adapter must then be empty.
	Merge *MergedAdapters
	// Grammar, when set, constrains the output token by token to a JSON
	// document it accepts; the sequence stops once the document is complete.
	Grammar *grammar.Grammar
}

// RequestError is a request the engine refuses. Param is the request field to
// blame, as its path in the engine's proto (graft.engine.v1.GenerateRequest:
// "prompt.token_ids", "sampling.temperature", "adapter_id", "n"); empty when no
// single field is at fault.
type RequestError struct {
	Param string
	Msg   string
	// NotFound marks a request for something that does not exist (an adapter
	// that is not loaded).
	NotFound bool
}

func (e *RequestError) Error() string { return e.Msg }

// ErrQueueFull is returned by Generate when Config.MaxQueued requests already
// wait: the caller should retry later or elsewhere.
var ErrQueueFull = errors.New("engine: request queue is full")

// Field paths of the request fields the engine checks.
const (
	paramPrompt       = "prompt.token_ids"
	paramMaxTokens    = "sampling.max_tokens"
	paramStopTokenIDs = "sampling.stop_token_ids"
	paramAdapter      = "adapter_id"
	paramN            = "n"
	paramPath         = "path"
)

func (e *Engine) validate(r *Request) error {
	vocab := e.m.Config.Vocab
	if len(r.Prompt) == 0 {
		return &RequestError{Param: paramPrompt, Msg: "prompt is empty"}
	}
	for _, id := range r.Prompt {
		if id < 0 || int(id) >= vocab {
			return &RequestError{Param: paramPrompt, Msg: fmt.Sprintf("prompt token id %d is outside the vocabulary (0..%d)", id, vocab-1)}
		}
	}
	limit := e.cfg.MaxModelLen
	if len(r.Prompt) >= limit {
		return &RequestError{Param: paramPrompt, Msg: fmt.Sprintf("this model's maximum context length is %d tokens; the prompt has %d tokens, leaving no room to generate", limit, len(r.Prompt))}
	}
	if r.MaxTokens < 0 {
		return &RequestError{Param: paramMaxTokens, Msg: fmt.Sprintf("max_tokens must be at least 1, got %d", r.MaxTokens)}
	}
	if r.MaxTokens == 0 {
		r.MaxTokens = limit - len(r.Prompt)
	}
	if len(r.Prompt)+r.MaxTokens > limit {
		return &RequestError{Param: paramMaxTokens, Msg: fmt.Sprintf("this model's maximum context length is %d tokens; you requested %d tokens (%d in the prompt, %d to generate)", limit, len(r.Prompt)+r.MaxTokens, len(r.Prompt), r.MaxTokens)}
	}
	for _, id := range r.StopTokenIDs {
		if id < 0 || int(id) >= vocab {
			return &RequestError{Param: paramStopTokenIDs, Msg: fmt.Sprintf("stop token id %d is outside the vocabulary", id)}
		}
	}
	if r.N < 0 || r.N > e.cfg.MaxNumSeqs {
		return &RequestError{Param: paramN, Msg: fmt.Sprintf("n must be between 1 and %d (the engine's sequences per step), got %d", e.cfg.MaxNumSeqs, r.N)}
	}
	if r.N == 0 {
		r.N = 1
	}
	if r.Merge != nil {
		if err := r.Merge.validate(r.Adapter); err != nil {
			return err
		}
	}
	if err := r.Sampling.Validate(vocab); err != nil {
		var pe *sample.ParamError
		if errors.As(err, &pe) {
			return &RequestError{Param: "sampling." + pe.Param, Msg: pe.Error()}
		}
		return &RequestError{Msg: err.Error()}
	}
	return nil
}
