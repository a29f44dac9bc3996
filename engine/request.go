package engine

import (
	"fmt"

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
}

// RequestError is a request the engine refuses; Param names the offending field
// when one is to blame (OpenAI's error "param").
type RequestError struct {
	Param string
	Msg   string
	// NotFound marks a request for something that does not exist (an adapter
	// that is not loaded): HTTP 404 rather than 400.
	NotFound bool
}

func (e *RequestError) Error() string { return e.Msg }

func (e *Engine) validate(r *Request) error {
	vocab := e.m.Config.Vocab
	if len(r.Prompt) == 0 {
		return &RequestError{Param: "prompt", Msg: "prompt is empty"}
	}
	for _, id := range r.Prompt {
		if id < 0 || int(id) >= vocab {
			return &RequestError{Param: "prompt", Msg: fmt.Sprintf("prompt token id %d is outside the vocabulary (0..%d)", id, vocab-1)}
		}
	}
	limit := e.cfg.MaxModelLen
	if len(r.Prompt) >= limit {
		return &RequestError{Param: "prompt", Msg: fmt.Sprintf("this model's maximum context length is %d tokens; the prompt has %d tokens, leaving no room to generate", limit, len(r.Prompt))}
	}
	if r.MaxTokens < 0 {
		return &RequestError{Param: "max_tokens", Msg: fmt.Sprintf("max_tokens must be at least 1, got %d", r.MaxTokens)}
	}
	if r.MaxTokens == 0 {
		r.MaxTokens = limit - len(r.Prompt)
	}
	if len(r.Prompt)+r.MaxTokens > limit {
		return &RequestError{Param: "max_tokens", Msg: fmt.Sprintf("this model's maximum context length is %d tokens; you requested %d tokens (%d in the prompt, %d to generate)", limit, len(r.Prompt)+r.MaxTokens, len(r.Prompt), r.MaxTokens)}
	}
	for _, id := range r.StopTokenIDs {
		if id < 0 || int(id) >= vocab {
			return &RequestError{Param: "stop_token_ids", Msg: fmt.Sprintf("stop token id %d is outside the vocabulary", id)}
		}
	}
	if err := r.Sampling.Validate(vocab); err != nil {
		if pe, ok := err.(*sample.ParamError); ok {
			return &RequestError{Param: pe.Param, Msg: pe.Error()}
		}
		return &RequestError{Msg: err.Error()}
	}
	return nil
}
