package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// job is one validated request ready to run.
type job struct {
	chat         bool
	model        string // as the client named it
	adapter      string
	gen          *enginev1.GenerateRequest
	n            int
	stream       bool
	includeUsage bool
	params       *paramNames // the engine's field names in this request's terms
	tools        *toolPlan   // chat only; nil for completions
	began        time.Time
}

// choice accumulates one sequence's output.
type choice struct {
	text       string
	finish     string
	chatLP     *chatLogprobs
	complLP    *completionLogprobs
	textOffset int
	auto       autoStream   // a streamed choice that may call tools
	forced     forcedStream // a streamed choice that must
}

func (j *job) newChoice() *choice {
	c := &choice{}
	if j.gen.Sampling.GetLogprobs() {
		if j.chat {
			c.chatLP = &chatLogprobs{Content: []tokenLogprob{}}
		} else {
			c.complLP = &completionLogprobs{Tokens: []string{}, TokenLogprobs: []float32{}, TopLogprobs: []map[string]float32{}, TextOffset: []int{}}
		}
	}
	return c
}

// add folds one engine message into c and returns the logprobs of its tokens
// alone, for a stream chunk.
func (s *Server) add(ctx context.Context, j *job, c *choice, m *enginev1.GenerateResponse) (any, error) {
	if m.FinishReason != enginev1.FinishReason_FINISH_REASON_UNSPECIFIED {
		f, ok := finishReasons[m.FinishReason]
		if !ok {
			return nil, fmt.Errorf("generation failed: %s (%s)", m.Error, m.FinishReason)
		}
		c.finish = f
	}
	c.text += m.TextDelta
	if c.chatLP == nil && c.complLP == nil {
		return nil, nil
	}
	if c.chatLP != nil {
		part := &chatLogprobs{Content: []tokenLogprob{}}
		for _, g := range m.Tokens {
			tok := g.Token
			tl := tokenLogprob{Token: tok, Logprob: g.Logprob, Bytes: byteList(g.Bytes), TopLogprobs: []topLogprob{}}
			for _, alt := range g.TopLogprobs {
				tl.TopLogprobs = append(tl.TopLogprobs, topLogprob{Token: alt.Token, Logprob: alt.Logprob, Bytes: byteList(alt.Bytes)})
			}
			part.Content = append(part.Content, tl)
		}
		c.chatLP.Content = append(c.chatLP.Content, part.Content...)
		return part, nil
	}
	part := &completionLogprobs{Tokens: []string{}, TokenLogprobs: []float32{}, TopLogprobs: []map[string]float32{}, TextOffset: []int{}}
	for _, g := range m.Tokens {
		tok := g.Token
		top := map[string]float32{tok: g.Logprob}
		for _, alt := range g.TopLogprobs {
			top[alt.Token] = alt.Logprob
		}
		part.Tokens = append(part.Tokens, tok)
		part.TokenLogprobs = append(part.TokenLogprobs, g.Logprob)
		part.TopLogprobs = append(part.TopLogprobs, top)
		part.TextOffset = append(part.TextOffset, c.textOffset)
		c.textOffset += len(g.Bytes)
	}
	lp := c.complLP
	lp.Tokens = append(lp.Tokens, part.Tokens...)
	lp.TokenLogprobs = append(lp.TokenLogprobs, part.TokenLogprobs...)
	lp.TopLogprobs = append(lp.TopLogprobs, part.TopLogprobs...)
	lp.TextOffset = append(lp.TextOffset, part.TextOffset...)
	return part, nil
}

// UsageTrailer ends every generation response with its total tokens
// (prompt plus completion, all n choices), so the gateway in front can
// settle the tokens it reserved for the request's rate limit; it is the
// same name as xds.TrailerUsage.
const UsageTrailer = "X-Graft-Usage-Tokens"

// execute runs a job and writes its response, streamed or whole.
func (s *Server) execute(w http.ResponseWriter, r *http.Request, j *job) {
	j.began = time.Now()
	ctx := r.Context()
	// Declared before the status line so net/http sends it as a trailer,
	// with the value it holds when the handler returns.
	w.Header().Set("Trailer", UsageTrailer)
	w.Header().Set(UsageTrailer, "0")
	run, err := s.start(ctx, j.gen, j.n)
	if err != nil {
		writeError(w, fromRPC(err, j.params))
		return
	}
	defer run.close()
	base, _ := s.baseModel(ctx)
	t := tally{job: j, base: base, prompt: run.promptTokens}
	defer func() { w.Header().Set(UsageTrailer, strconv.Itoa(t.prompt+t.completion)) }()
	if j.stream {
		s.streamOut(ctx, w, j, run, &t)
	} else {
		s.wholeOut(ctx, w, j, run, &t)
	}
}

// tally records a request's token counts and latencies into the metrics.
type tally struct {
	job        *job
	base       string
	prompt     int
	completion int
	cached     int // prompt tokens from the prefix cache, the same for all n sequences
	firstSeen  bool
}

func (t *tally) saw(s *Server, m *enginev1.GenerateResponse) {
	t.completion += len(m.Tokens)
	t.cached = max(t.cached, int(m.GetUsage().GetCachedTokens()))
	if !t.firstSeen && len(m.Tokens) > 0 {
		t.firstSeen = true
		s.metrics.ttft.WithLabelValues(t.base).Observe(time.Since(t.job.began).Seconds())
	}
}

func (t *tally) done(s *Server) {
	s.metrics.promptTokens.WithLabelValues(t.base).Add(float64(t.prompt))
	s.metrics.generationTokens.WithLabelValues(t.base).Add(float64(t.completion))
	s.metrics.e2e.WithLabelValues(t.base).Observe(time.Since(t.job.began).Seconds())
}

func (t *tally) usage() *usage {
	return &usage{PromptTokens: t.prompt, CompletionTokens: t.completion, TotalTokens: t.prompt + t.completion,
		PromptTokensDetails: promptDetails{CachedTokens: t.cached}}
}

func (s *Server) wholeOut(ctx context.Context, w http.ResponseWriter, j *job, run *run, t *tally) {
	choices := make([]*choice, j.n)
	for i := range choices {
		choices[i] = j.newChoice()
	}
	for {
		m, err := run.next()
		if err == nil && m == nil {
			break
		}
		if err == nil {
			t.saw(s, m)
			_, err = s.add(ctx, j, choices[m.Index], m)
		}
		if err != nil {
			s.failed(w, err, j)
			return
		}
	}
	t.done(s)
	env := envelope{ID: newID("cmpl-"), Object: "text_completion", Created: time.Now().Unix(), Model: j.model, Usage: t.usage()}
	if j.chat {
		env.ID, env.Object = newID("chatcmpl-"), "chat.completion"
		out := make([]chatChoice, j.n)
		for i, c := range choices {
			msg, finish := j.tools.answer(c.text, c.finish)
			out[i] = chatChoice{Index: i, Message: msg, Logprobs: c.chatLP, FinishReason: &finish}
		}
		env.Choices = out
	} else {
		out := make([]completionChoice, j.n)
		for i, c := range choices {
			out[i] = completionChoice{Index: i, Text: c.text, Logprobs: c.complLP, FinishReason: &c.finish}
		}
		env.Choices = out
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(env)
}

func (s *Server) failed(w http.ResponseWriter, err error, j *job) {
	if errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled {
		return // the client went away
	}
	slog.Warn("generation failed", "model", j.model, "err", err)
	e := fromRPC(err, j.params)
	if _, ok := status.FromError(err); !ok {
		e = &apiError{Status: http.StatusInternalServerError, Type: "internal_error", Message: err.Error()}
	}
	writeError(w, e)
}
