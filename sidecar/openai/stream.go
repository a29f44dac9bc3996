package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/graft-ai/graft/sidecar/openai/toolcall"
)

// sse writes Server-Sent Events exactly as OpenAI does: "data: {json}\n\n" per
// chunk and "data: [DONE]\n\n" at the end.
type sse struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf bytes.Buffer
}

func newSSE(w http.ResponseWriter) *sse {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	w.WriteHeader(http.StatusOK)
	return &sse{w: w, rc: http.NewResponseController(w)}
}

func (s *sse) send(v any) error {
	s.buf.Reset()
	s.buf.WriteString("data: ")
	enc := json.NewEncoder(&s.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	s.buf.Truncate(s.buf.Len() - 1) // Encode's newline
	s.buf.WriteString("\n\n")
	return s.write()
}

func (s *sse) done() error {
	s.buf.Reset()
	s.buf.WriteString("data: [DONE]\n\n")
	return s.write()
}

func (s *sse) write() error {
	if _, err := s.w.Write(s.buf.Bytes()); err != nil {
		return err
	}
	return s.rc.Flush()
}

// streamOut writes one chunk per engine message. Chat opens each choice with a
// role-only delta and closes it with an empty delta carrying finish_reason, as
// OpenAI does; an engine failure mid-stream ends the stream with an error event.
func (s *Server) streamOut(ctx context.Context, w http.ResponseWriter, j *job, run *run, t *tally) {
	out := newSSE(w)
	env := envelope{ID: newID("cmpl-"), Object: "text_completion", Created: time.Now().Unix(), Model: j.model}
	if j.chat {
		env.ID, env.Object = newID("chatcmpl-"), "chat.completion.chunk"
	}
	if j.includeUsage {
		env.Usage = json.RawMessage("null") // every chunk but the last, as OpenAI does
	}
	chunk := func(c any) error {
		e := env
		e.Choices = []any{c}
		return out.send(e)
	}
	choices := make([]*choice, j.n)
	for i := range choices {
		choices[i] = j.newChoice()
		if j.chat {
			empty := ""
			if chunk(chatChoice{Index: i, Delta: &chatDelta{Role: "assistant", Content: &empty}}) != nil {
				return
			}
			if j.tools.modeOrNone() == toolsNamed && chunk(namedCallHead(j.tools.named, i)) != nil {
				return
			}
		}
	}
	for {
		m, err := run.next()
		if err == nil && m == nil {
			break
		}
		var lp any
		if err == nil {
			t.saw(s, m)
			lp, err = s.add(ctx, j, choices[m.Index], m)
		}
		if err != nil {
			if ctx.Err() == nil {
				slog.Warn("stream failed", "model", j.model, "err", err)
				_ = out.send(map[string]*apiError{"error": fromRPC(err, j.params)})
			}
			return
		}
		i := int(m.Index)
		if j.chat && j.tools.modeOrNone() != toolsNone {
			for _, cc := range toolChunks(j, i, choices[i], m.TextDelta) {
				if chunk(cc) != nil {
					return
				}
			}
			continue
		}
		if chunk(s.chunkChoice(j, i, choices[i], m.TextDelta, lp)) != nil {
			return
		}
	}
	t.done(s)
	if j.includeUsage {
		e := env
		e.Choices = []any{}
		e.Usage = t.usage()
		if out.send(e) != nil {
			return
		}
	}
	_ = out.done()
}

// chunkChoice is one choice's part of a chunk; the finishing message of a chat
// choice carries its last text, then the finish reason.
func (s *Server) chunkChoice(j *job, i int, c *choice, delta string, lp any) any {
	var finish *string
	if c.finish != "" {
		finish = &c.finish
	}
	if !j.chat {
		cc := completionChoice{Index: i, Text: delta, FinishReason: finish}
		if lp != nil {
			cc.Logprobs = lp.(*completionLogprobs)
		}
		return cc
	}
	cc := chatChoice{Index: i, Delta: &chatDelta{}, FinishReason: finish}
	if delta != "" || finish == nil {
		cc.Delta.Content = &delta
	}
	if lp != nil {
		cc.Logprobs = lp.(*chatLogprobs)
	}
	return cc
}

// namedCallHead opens the one call of a named tool choice: its id, type and
// name, with the arguments to follow.
func namedCallHead(name string, i int) chatChoice {
	zero := 0
	return chatChoice{Index: i, Delta: &chatDelta{ToolCalls: []toolCallOut{{Index: &zero, ID: newID("call_"), Type: "function",
		Function: toolFunctionOut{Name: name}}}}}
}

// toolChunks are a tool-using choice's chunks for one engine message, as
// OpenAI streams calls: each call's head (index, id, type, name), then its
// arguments in fragments as they are generated. A named choice's output is
// the arguments themselves; a required choice's is a JSON list of calls read
// as it grows; an auto choice streams content until a call begins.
// Logprobs are not streamed for these choices.
func toolChunks(j *job, i int, c *choice, delta string) []chatChoice {
	var finish *string
	if c.finish != "" {
		finish = &c.finish
	}
	switch j.tools.mode {
	case toolsAuto:
		return autoChunks(j, i, c, delta, finish)
	case toolsRequired:
		return forcedChunks(i, c, finish)
	}
	zero := 0
	cc := chatChoice{Index: i, Delta: &chatDelta{}, FinishReason: finish}
	if delta != "" {
		cc.Delta.ToolCalls = []toolCallOut{{Index: &zero, Function: toolFunctionOut{Arguments: delta}}}
	}
	if delta == "" && finish == nil {
		return nil
	}
	return []chatChoice{cc}
}

// forcedChunks streams a required choice: a head when a call's name is
// whole, then what its arguments grew by.
func forcedChunks(i int, c *choice, finish *string) []chatChoice {
	var out []chatChoice
	parts := toolcall.ScanForced(c.text)
	fs := &c.forced
	for k, p := range parts {
		if k == len(fs.ids) {
			fs.ids, fs.sent = append(fs.ids, newID("call_")), append(fs.sent, 0)
			out = append(out, chatChoice{Index: i, Delta: &chatDelta{ToolCalls: []toolCallOut{{Index: &k, ID: fs.ids[k], Type: "function",
				Function: toolFunctionOut{Name: p.Name}}}}})
		}
		if len(p.Args) > fs.sent[k] {
			out = append(out, chatChoice{Index: i, Delta: &chatDelta{ToolCalls: []toolCallOut{{Index: &k,
				Function: toolFunctionOut{Arguments: p.Args[fs.sent[k]:]}}}}})
			fs.sent[k] = len(p.Args)
		}
	}
	if finish == nil {
		return out
	}
	why := *finish
	if len(parts) == 0 {
		// Not even a call's name: the text is content, as in the whole answer.
		if c.text != "" {
			out = append(out, chatChoice{Index: i, Delta: &chatDelta{Content: &c.text}})
		}
	} else if why == "stop" {
		why = "tool_calls"
	}
	return append(out, chatChoice{Index: i, Delta: &chatDelta{}, FinishReason: &why})
}

// autoChunks streams an auto choice: content as soon as it cannot be the
// start of a call; at the end, the calls found in the text held back, or
// that text as content.
func autoChunks(j *job, i int, c *choice, delta string, finish *string) []chatChoice {
	var out []chatChoice
	if text := c.auto.push(delta); text != "" {
		out = append(out, chatChoice{Index: i, Delta: &chatDelta{Content: &text}})
	}
	if finish == nil {
		return out
	}
	msg, why := j.tools.answer(c.auto.held, c.finish)
	return append(out, callChunks(i, msg, why)...)
}

// callChunks are the end of a tool-using choice: each call's head (index,
// id, type, name) then its arguments, any content, then the finish reason.
func callChunks(i int, msg *chatMessageOut, why string) []chatChoice {
	var out []chatChoice
	for k, tc := range msg.ToolCalls {
		head, args := tc, tc
		head.Index, head.Function.Arguments = &k, ""
		args.Index, args.ID, args.Type, args.Function.Name = &k, "", "", ""
		out = append(out,
			chatChoice{Index: i, Delta: &chatDelta{ToolCalls: []toolCallOut{head}}},
			chatChoice{Index: i, Delta: &chatDelta{ToolCalls: []toolCallOut{args}}})
	}
	if msg.Content != nil && *msg.Content != "" {
		out = append(out, chatChoice{Index: i, Delta: &chatDelta{Content: msg.Content}})
	}
	return append(out, chatChoice{Index: i, Delta: &chatDelta{}, FinishReason: &why})
}
