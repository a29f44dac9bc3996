package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/lora"
	"github.com/graft-ai/graft/engine/sample"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// Generate streams the request's n sequences, interleaved, each message naming
// its sequence in index; each sequence's first message carries the prompt ids.
// The stream's context is the request's: a client that cancels or disconnects
// cancels every sequence and frees their KV blocks.
func (s *Server) Generate(req *enginev1.GenerateRequest, out grpc.ServerStreamingServer[enginev1.GenerateResponse]) error {
	ctx := out.Context()
	r, err := s.request(ctx, req)
	if err != nil {
		return err
	}
	tr := startGenTrace(ctx, r)
	stream, err := s.eng.Generate(ctx, r)
	if err != nil {
		return requestStatus(promptParam(err, req))
	}
	defer stream.Cancel()
	defer func() { tr.end(err) }()
	started := make([]bool, r.N)
	for live := r.N; live > 0; {
		ev, ok := stream.Next(ctx)
		if !ok {
			err = ctx.Err()
			return status.FromContextError(ctx.Err()).Err()
		}
		tr.observe(ev)
		msg := s.response(ev, req.GetSampling())
		if !started[ev.Index] {
			msg.PromptTokenIds, started[ev.Index] = stream.PromptIDs, true
		}
		if err = out.Send(msg); err != nil {
			return err
		}
		if ev.Finish != "" {
			live--
		}
	}
	return nil
}

// promptParam names the prompt field the client actually set when the engine
// blames the prompt, which it only knows as token ids.
func promptParam(err error, req *enginev1.GenerateRequest) error {
	var re *engine.RequestError
	if !errors.As(err, &re) || re.Param != "prompt.token_ids" {
		return err
	}
	switch req.Prompt.(type) {
	case *enginev1.GenerateRequest_Text:
		return &engine.RequestError{Param: "prompt.text", Msg: re.Msg, NotFound: re.NotFound}
	case *enginev1.GenerateRequest_Chat:
		return &engine.RequestError{Param: "prompt.chat.messages", Msg: re.Msg, NotFound: re.NotFound}
	}
	return err
}

// request maps the wire request onto the engine's, with the proto's "zero means
// disabled" conventions.
func (s *Server) request(ctx context.Context, req *enginev1.GenerateRequest) (engine.Request, error) {
	prompt, err := s.prompt(ctx, req)
	if err != nil {
		return engine.Request{}, err
	}
	sp := req.GetSampling()
	p := sample.Params{
		Temperature: sp.GetTemperature(), TopK: int(sp.GetTopK()), TopP: sp.GetTopP(), MinP: sp.GetMinP(),
		RepetitionPenalty: sp.GetRepetitionPenalty(), FrequencyPenalty: sp.GetFrequencyPenalty(),
		PresencePenalty: sp.GetPresencePenalty(), Logprobs: sp.GetLogprobs(), TopLogprobs: int(sp.GetTopLogprobs()),
	}
	if p.TopP == 0 {
		p.TopP = 1
	}
	if p.RepetitionPenalty == 0 {
		p.RepetitionPenalty = 1
	}
	if sp != nil && sp.Seed != nil {
		p.Seed, p.HasSeed = sp.GetSeed(), true
	}
	if sp.GetMaxTokens() > 1<<30 {
		return engine.Request{}, invalid("sampling.max_tokens", fmt.Sprintf("max_tokens %d is too large", sp.GetMaxTokens()))
	}
	if req.GetN() > 1<<20 {
		return engine.Request{}, invalid("n", fmt.Sprintf("n %d is too large", req.GetN()))
	}
	g, err := s.grammar(req.GetConstraint())
	if err != nil {
		return engine.Request{}, err
	}
	return engine.Request{
		Merge:   mergedAdapters(req.GetMergedAdapters()),
		Grammar: g,
		N:       max(int(req.GetN()), 1),
		Prompt:  prompt, Adapter: req.GetAdapterId(), Sampling: p, MaxTokens: int(sp.GetMaxTokens()),
		Stop: sp.GetStop(), StopTokenIDs: sp.GetStopTokenIds(), IgnoreEOS: sp.GetIgnoreEos(),
		IncludeStopStr: sp.GetIncludeStopStrInOutput(),
	}, nil
}

func (s *Server) prompt(ctx context.Context, req *enginev1.GenerateRequest) ([]int32, error) {
	switch p := req.Prompt.(type) {
	case *enginev1.GenerateRequest_TokenIds:
		return p.TokenIds.GetIds(), nil
	case *enginev1.GenerateRequest_Text:
		add := req.AddSpecialTokens == nil || req.GetAddSpecialTokens()
		return s.encodePrompt("prompt.text", p.Text, add)
	case *enginev1.GenerateRequest_Chat:
		return s.chatPrompt(ctx, p.Chat)
	}
	return nil, invalid("prompt", "prompt is missing: set text, token_ids or chat")
}

func (s *Server) response(ev engine.Event, sp *enginev1.SamplingParams) *enginev1.GenerateResponse {
	msg := &enginev1.GenerateResponse{TextDelta: ev.Text, Index: uint32(ev.Index)}
	for _, t := range ev.Tokens {
		tt := s.texts.text(t.ID)
		g := &enginev1.GeneratedToken{TokenId: t.ID, Token: tt.text}
		if sp.GetLogprobs() {
			// The bytes serve logprobs alone: other streams would carry
			// every token's text twice.
			g.Bytes, g.Logprob = tt.bytes, t.Logprob
			for _, alt := range t.Top {
				at := s.texts.text(alt.Token)
				g.TopLogprobs = append(g.TopLogprobs, &enginev1.TokenLogprob{
					TokenId: alt.Token, Token: at.text, Bytes: at.bytes, Logprob: alt.Logprob})
			}
		}
		msg.Tokens = append(msg.Tokens, g)
	}
	if ev.Finish == "" {
		return msg
	}
	msg.FinishReason = finishReason(ev.Finish)
	msg.Usage = &enginev1.Usage{PromptTokens: uint32(ev.PromptTokens), CompletionTokens: uint32(ev.CompletionTokens),
		CachedTokens: uint32(ev.CachedTokens)}
	if ev.Err != nil {
		msg.Error = ev.Err.Error()
	}
	return msg
}

func finishReason(f engine.FinishReason) enginev1.FinishReason {
	switch f {
	case engine.FinishStop:
		return enginev1.FinishReason_FINISH_REASON_STOP
	case engine.FinishLength:
		return enginev1.FinishReason_FINISH_REASON_LENGTH
	case engine.FinishCancelled:
		return enginev1.FinishReason_FINISH_REASON_CANCELLED
	}
	return enginev1.FinishReason_FINISH_REASON_ERROR
}

// mergedAdapters maps the wire message onto the engine's, with its defaults:
// weight 1 each, linear, density 1, the total sign method, seed 0.
func mergedAdapters(m *enginev1.MergedAdapters) *engine.MergedAdapters {
	if m == nil {
		return nil
	}
	spec := lora.MergeSpec{Weights: m.GetWeights(), Strategy: m.GetMergeStrategy(), Density: 1,
		MajoritySign: m.GetMajoritySignMethod(), Seed: m.GetSeed()}
	if len(spec.Weights) == 0 {
		spec.Weights = make([]float64, len(m.GetIds()))
		for i := range spec.Weights {
			spec.Weights[i] = 1
		}
	}
	if spec.Strategy == "" {
		spec.Strategy = lora.MergeLinear
	}
	if m.Density != nil {
		spec.Density = m.GetDensity()
	}
	if spec.MajoritySign == "" {
		spec.MajoritySign = lora.SignTotal
	}
	return &engine.MergedAdapters{IDs: m.GetIds(), Spec: spec}
}
