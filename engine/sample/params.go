package sample

import (
	"errors"
	"fmt"
	"math"
)

// MaxTopLogprobs is OpenAI's upper bound for top_logprobs.
const MaxTopLogprobs = 20

// Params are one request's sampling settings. The zero value is not valid
// (TopP and RepetitionPenalty of 0 are out of range); start from
// DefaultParams.
type Params struct {
	// Temperature 0 means greedy decoding.
	Temperature float32
	// TopK 0 disables top-k; values at or above the vocabulary size do too.
	TopK int
	// TopP 1 disables nucleus truncation; MinP 0 disables min-p.
	TopP, MinP float32
	// RepetitionPenalty 1 and Frequency/PresencePenalty 0 disable them.
	RepetitionPenalty, FrequencyPenalty, PresencePenalty float32
	// Seed is used only when HasSeed is set; otherwise the stream is seeded
	// from crypto/rand.
	Seed    uint64
	HasSeed bool
	// Logprobs asks for the chosen token's log-probability and TopLogprobs
	// for that many of the most likely alternatives.
	Logprobs    bool
	TopLogprobs int
}

// DefaultParams returns settings that sample from the model's unmodified
// distribution.
func DefaultParams() Params {
	return Params{Temperature: 1, TopP: 1, RepetitionPenalty: 1}
}

// ParamError reports one out-of-range parameter. Param is the OpenAI request
// field name, so the HTTP layer can fill the error's "param".
type ParamError struct {
	Param string
	Msg   string
}

func (e *ParamError) Error() string { return e.Param + " " + e.Msg }

func paramErr(param, format string, args ...any) error {
	return &ParamError{Param: param, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks p for a model with vocab tokens and returns the first
// problem found as a *ParamError.
func (p Params) Validate(vocab int) error {
	if vocab <= 0 {
		return errors.New("sample: vocabulary size must be positive")
	}
	switch {
	case !finite(p.Temperature) || p.Temperature < 0:
		return paramErr("temperature", "must be a finite number >= 0, got %v", p.Temperature)
	case p.TopK < 0:
		return paramErr("top_k", "must be >= 0 (0 disables it), got %d", p.TopK)
	case !finite(p.TopP) || p.TopP <= 0 || p.TopP > 1:
		return paramErr("top_p", "must be in (0, 1], got %v", p.TopP)
	case !finite(p.MinP) || p.MinP < 0 || p.MinP > 1:
		return paramErr("min_p", "must be in [0, 1], got %v", p.MinP)
	case !finite(p.RepetitionPenalty) || p.RepetitionPenalty <= 0:
		return paramErr("repetition_penalty", "must be a finite number > 0, got %v", p.RepetitionPenalty)
	case !finite(p.FrequencyPenalty) || p.FrequencyPenalty < -2 || p.FrequencyPenalty > 2:
		return paramErr("frequency_penalty", "must be in [-2, 2], got %v", p.FrequencyPenalty)
	case !finite(p.PresencePenalty) || p.PresencePenalty < -2 || p.PresencePenalty > 2:
		return paramErr("presence_penalty", "must be in [-2, 2], got %v", p.PresencePenalty)
	case p.TopLogprobs < 0 || p.TopLogprobs > MaxTopLogprobs:
		return paramErr("top_logprobs", "must be in [0, %d], got %d", MaxTopLogprobs, p.TopLogprobs)
	case p.TopLogprobs > 0 && !p.Logprobs:
		return paramErr("top_logprobs", "requires logprobs to be true")
	case p.TopLogprobs > vocab:
		return paramErr("top_logprobs", "must not exceed the vocabulary size %d, got %d", vocab, p.TopLogprobs)
	}
	return nil
}

func finite(f float32) bool {
	return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0)
}

func (p Params) penalized() bool {
	return p.RepetitionPenalty != 1 || p.FrequencyPenalty != 0 || p.PresencePenalty != 0
}

// topKActive reports whether top-k removes anything from a vocab-sized
// distribution.
func (p Params) topKActive(vocab int) bool { return p.TopK > 0 && p.TopK < vocab }
