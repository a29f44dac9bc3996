package openai

import (
	"net/http"

	"github.com/graft-ai/graft/engine/sample"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// completionsDefaultMax is OpenAI's (and vLLM's) max_tokens default for
// /v1/completions; chat defaults to the rest of the context.
const completionsDefaultMax = 16

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if e := decode(r, &req); e != nil {
		writeError(w, e)
		return
	}
	j, e := s.chatJob(r, &req)
	if e != nil {
		writeError(w, e)
		return
	}
	s.execute(w, r, j)
}

func (s *Server) chatJob(r *http.Request, req *chatRequest) (*job, *apiError) {
	maxTokens, maxParam := req.MaxCompletionTokens, "max_completion_tokens"
	if maxTokens == nil {
		maxTokens, maxParam = req.MaxTokens, "max_tokens"
	}
	sp, e := req.sampling(maxTokens, maxParam, 0)
	if e != nil {
		return nil, e
	}
	if e := chatLogprobParams(req, sp); e != nil {
		return nil, e
	}
	n, e := req.choices()
	if e != nil {
		return nil, e
	}
	if len(req.Messages) == 0 {
		return nil, badRequest("messages", "messages must hold at least one message")
	}
	msgs := make([]*enginev1.ChatMessage, len(req.Messages))
	for i, m := range req.Messages {
		text, ok := m.text()
		if !ok {
			return nil, badRequest("messages", "messages[%d].content must be a string or a list of text parts", i)
		}
		msgs[i] = &enginev1.ChatMessage{Role: m.Role, Content: text, Name: m.Name}
	}
	adapter, e := s.resolve(r.Context(), req.Model)
	if e != nil {
		return nil, e
	}
	rename := map[string]string{"prompt": "messages", "max_tokens": maxParam}
	tr, err := s.engine.ApplyChatTemplate(r.Context(), &enginev1.ApplyChatTemplateRequest{
		Messages: msgs, AddGenerationPrompt: true, ChatTemplate: req.ChatTemplate})
	if err != nil {
		return nil, fromRPC(err, rename)
	}
	// The template writes BOS itself where the model wants one, as in vLLM.
	noSpecial := false
	gen := &enginev1.GenerateRequest{Prompt: &enginev1.GenerateRequest_Text{Text: tr.Text},
		AddSpecialTokens: &noSpecial, AdapterId: adapter, Sampling: sp}
	return &job{chat: true, model: req.Model, adapter: adapter, gen: gen, n: n, stream: req.Stream,
		includeUsage: req.Stream && req.StreamOptions != nil && req.StreamOptions.IncludeUsage, rename: rename}, nil
}

func chatLogprobParams(req *chatRequest, sp *enginev1.SamplingParams) *apiError {
	sp.Logprobs = req.Logprobs
	if req.TopLogprobs == nil {
		return nil
	}
	k := *req.TopLogprobs
	if k < 0 || k > sample.MaxTopLogprobs {
		return badRequest("top_logprobs", "top_logprobs must be between 0 and %d, got %d", sample.MaxTopLogprobs, k)
	}
	if k > 0 && !req.Logprobs {
		return badRequest("top_logprobs", "top_logprobs requires logprobs to be true")
	}
	sp.TopLogprobs = uint32(k)
	return nil
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	if e := decode(r, &req); e != nil {
		writeError(w, e)
		return
	}
	j, e := s.completionJob(r, &req)
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
		k := *req.Logprobs
		if k < 0 || k > sample.MaxTopLogprobs {
			return nil, badRequest("logprobs", "logprobs must be between 0 and %d, got %d", sample.MaxTopLogprobs, k)
		}
		sp.Logprobs, sp.TopLogprobs = true, uint32(k)
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
	gen.AdapterId, gen.Sampling = adapter, sp
	return &job{model: req.Model, adapter: adapter, gen: gen, n: n, stream: req.Stream,
		includeUsage: req.Stream && req.StreamOptions != nil && req.StreamOptions.IncludeUsage,
		rename:       map[string]string{"top_logprobs": "logprobs"}}, nil
}
