package openai

import (
	"math"
	"net/http"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// completionsDefaultMax is OpenAI's (and vLLM's) max_tokens default for
// /v1/completions; chat defaults to the rest of the context.
const completionsDefaultMax = 16

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if e := decode(w, r, s.maxBody, &req); e != nil {
		writeError(w, e)
		return
	}
	j, e := s.chatJob(r, &req)
	if e == nil {
		e = s.mergeInto(r.Context(), j, req.Adapters)
	}
	if e != nil {
		writeError(w, e)
		return
	}
	s.execute(w, r, j)
}

// chatJob sends the messages themselves: the engine renders and tokenizes
// them, so a chat is one call.
func (s *Server) chatJob(r *http.Request, req *chatRequest) (*job, *apiError) {
	maxTokens, maxParam := req.MaxCompletionTokens, "max_completion_tokens"
	if maxTokens == nil {
		maxTokens, maxParam = req.MaxTokens, "max_tokens"
	}
	sp, e := req.sampling(maxTokens, maxParam, 0)
	if e != nil {
		return nil, e
	}
	sp.Logprobs = req.Logprobs
	if req.TopLogprobs != nil {
		// The engine checks the bound (OpenAI's 20); this only keeps the value
		// whole on its way there.
		if e := inRange("top_logprobs", *req.TopLogprobs, 0, math.MaxInt32); e != nil {
			return nil, e
		}
		sp.TopLogprobs = uint32(*req.TopLogprobs)
	}
	n, e := req.choices()
	if e != nil {
		return nil, e
	}
	msgs, e := req.messages()
	if e != nil {
		return nil, e
	}
	adapter, e := s.resolve(r.Context(), req.Model)
	if e != nil {
		return nil, e
	}
	plan, constraint, e := req.tools()
	if e != nil {
		return nil, e
	}
	names := &paramNames{chat: true, maxTokens: maxParam, constraint: "response_format"}
	if constraint != nil {
		if req.ResponseFormat != nil && req.ResponseFormat.Type != "text" {
			return nil, badRequest("response_format", "response_format cannot be combined with tool_choice 'required' or a named function: both set the output's form")
		}
		names.constraint = "tools"
	} else if constraint, e = req.ResponseFormat.constraint(); e != nil {
		return nil, e
	}
	chat := &enginev1.ChatPrompt{Messages: msgs, ChatTemplate: req.ChatTemplate}
	if len(plan.names) > 0 {
		chat.ToolsJson = string(req.Tools)
	}
	gen := &enginev1.GenerateRequest{Prompt: &enginev1.GenerateRequest_Chat{Chat: chat}, AdapterId: adapter, Sampling: sp, Constraint: constraint}
	return &job{chat: true, model: req.Model, adapter: adapter, gen: gen, n: n, stream: req.Stream, tools: plan,
		includeUsage: req.Stream && req.StreamOptions != nil && req.StreamOptions.IncludeUsage,
		params:       names}, nil
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	if e := decode(w, r, s.maxBody, &req); e != nil {
		writeError(w, e)
		return
	}
	j, e := s.completionJob(r, &req)
	if e == nil {
		e = s.mergeInto(r.Context(), j, req.Adapters)
	}
	if e != nil {
		writeError(w, e)
		return
	}
	s.execute(w, r, j)
}

func (s *Server) completionJob(r *http.Request, req *completionRequest) (*job, *apiError) {
	sp, e := req.sampling(req.MaxTokens, "max_tokens", completionsDefaultMax)
	if e != nil {
		return nil, e
	}
	switch {
	case req.Echo:
		return nil, badRequest("echo", "echo is not supported")
	case req.Suffix != nil && *req.Suffix != "":
		return nil, badRequest("suffix", "suffix is not supported")
	case req.BestOf != nil && *req.BestOf != 1:
		return nil, badRequest("best_of", "best_of is not supported")
	}
	if req.Logprobs != nil {
		// As for chat's top_logprobs, the engine checks the bound.
		if e := inRange("logprobs", *req.Logprobs, 0, math.MaxInt32); e != nil {
			return nil, e
		}
		sp.Logprobs, sp.TopLogprobs = true, uint32(*req.Logprobs)
	}
	n, e := req.choices()
	if e != nil {
		return nil, e
	}
	gen, e := req.prompt()
	if e != nil {
		return nil, e
	}
	adapter, e := s.resolve(r.Context(), req.Model)
	if e != nil {
		return nil, e
	}
	if gen.Constraint, e = req.ResponseFormat.constraint(); e != nil {
		return nil, e
	}
	gen.AdapterId, gen.Sampling = adapter, sp
	return &job{model: req.Model, adapter: adapter, gen: gen, n: n, stream: req.Stream,
		includeUsage: req.Stream && req.StreamOptions != nil && req.StreamOptions.IncludeUsage,
		params:       &paramNames{maxTokens: "max_tokens", constraint: "response_format"}}, nil
}
