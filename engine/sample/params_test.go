package sample

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	nan := float32(math.NaN())
	cases := []struct {
		param string
		edit  func(*Params)
	}{
		{"temperature", func(p *Params) { p.Temperature = -0.1 }},
		{"temperature", func(p *Params) { p.Temperature = nan }},
		{"top_k", func(p *Params) { p.TopK = -1 }},
		{"top_p", func(p *Params) { p.TopP = 0 }},
		{"top_p", func(p *Params) { p.TopP = 1.01 }},
		{"min_p", func(p *Params) { p.MinP = -0.01 }},
		{"min_p", func(p *Params) { p.MinP = 1.5 }},
		{"repetition_penalty", func(p *Params) { p.RepetitionPenalty = 0 }},
		{"repetition_penalty", func(p *Params) { p.RepetitionPenalty = float32(math.Inf(1)) }},
		{"frequency_penalty", func(p *Params) { p.FrequencyPenalty = 2.5 }},
		{"frequency_penalty", func(p *Params) { p.FrequencyPenalty = -2.01 }},
		{"presence_penalty", func(p *Params) { p.PresencePenalty = -3 }},
		{"top_logprobs", func(p *Params) { p.Logprobs, p.TopLogprobs = true, 21 }},
		{"top_logprobs", func(p *Params) { p.TopLogprobs = 3 }},
		{"top_logprobs", func(p *Params) { p.Logprobs, p.TopLogprobs = true, -1 }},
		{"top_logprobs", func(p *Params) { p.Logprobs, p.TopLogprobs = true, 11 }}, // vocab 10
	}
	for _, c := range cases {
		p := DefaultParams()
		c.edit(&p)
		err := p.Validate(10)
		var pe *ParamError
		if !errors.As(err, &pe) || pe.Param != c.param {
			t.Errorf("%+v: got %v, want a ParamError for %s", p, err, c.param)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.param+" ") {
			t.Errorf("message %q does not name %s", err, c.param)
		}
	}
}

func TestValidateAccepts(t *testing.T) {
	good := []Params{
		DefaultParams(),
		{Temperature: 0, TopP: 1, RepetitionPenalty: 1},
		{Temperature: 0.7, TopK: 40, TopP: 0.9, MinP: 0.05, RepetitionPenalty: 1.1,
			FrequencyPenalty: -2, PresencePenalty: 2, Logprobs: true, TopLogprobs: 20},
		{Temperature: 1, TopK: 1000, TopP: 1, MinP: 1, RepetitionPenalty: 0.5},
	}
	for _, p := range good {
		if err := p.Validate(100); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	if err := DefaultParams().Validate(0); err == nil {
		t.Error("vocabulary size 0 accepted")
	}
}

func TestNewPanicsOnInvalidParams(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New accepted top_p 0")
		}
	}()
	New(Params{Temperature: 1, RepetitionPenalty: 1}, 10)
}
