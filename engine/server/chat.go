package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/status"

	"github.com/graft-ai/graft/engine/chattemplate"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// ChatLimits bound chat template rendering. Zero fields take
// DefaultChatLimits' values.
type ChatLimits struct {
	// AllowRequestTemplates lets a request carry its own chat_template.
	// Off by default, as in vLLM: a template is a program, and a
	// client should not run programs in the engine unless the operator
	// says so (graft's --allow-request-chat-template).
	AllowRequestTemplates bool
	// MaxOutputBytes caps the rendered prompt and every string a
	// template builds; a render allocates at most 16 times this.
	MaxOutputBytes int
	// MaxSteps caps template evaluation steps per render.
	MaxSteps int
	// Timeout caps one render's wall time.
	Timeout time.Duration
}

// DefaultChatLimits are chattemplate's defaults with request templates
// refused.
var DefaultChatLimits = ChatLimits{
	MaxOutputBytes: chattemplate.DefaultLimits.MaxOutputBytes,
	MaxSteps:       chattemplate.DefaultLimits.MaxSteps,
	Timeout:        chattemplate.DefaultLimits.Timeout,
}

// maxConcurrentRenders bounds the renders in flight, so the memory all
// renders may hold together is bounded too (each at most 2 × 16 ×
// MaxOutputBytes). Renders are short and CPU-bound; more at once would
// not finish sooner.
const maxConcurrentRenders = 4

var renderSlots = make(chan struct{}, maxConcurrentRenders)

// chatSettings is the Server's ChatLimits, read by every chat request
// while SetChatLimits may replace them.
type chatSettings struct{ p atomic.Pointer[ChatLimits] }

func (c *chatSettings) get() ChatLimits {
	if l := c.p.Load(); l != nil {
		return *l
	}
	return DefaultChatLimits
}

// SetChatLimits sets how chat templates are rendered from now on.
func (s *Server) SetChatLimits(l ChatLimits) {
	if l.MaxOutputBytes <= 0 {
		l.MaxOutputBytes = DefaultChatLimits.MaxOutputBytes
	}
	if l.MaxSteps <= 0 {
		l.MaxSteps = DefaultChatLimits.MaxSteps
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultChatLimits.Timeout
	}
	s.chat.p.Store(&l)
}

// errRequestTemplates is the refusal of a request's own chat_template.
const errRequestTemplates = "request chat templates are disabled on this server; " +
	"the operator enables them with --allow-request-chat-template"

// chatPrompt renders a chat prompt and tokenizes it without adding special
// tokens: the template writes BOS itself where the model wants one, as in vLLM.
func (s *Server) chatPrompt(ctx context.Context, c *enginev1.ChatPrompt) ([]int32, error) {
	// Messages too long for the context are refused for that, before the
	// template's output limit would refuse them less clearly.
	n := 0
	for _, m := range c.GetMessages() {
		n += len(m.GetContent())
	}
	if n > s.maxPromptBytes {
		return nil, invalid("prompt.chat.messages", fmt.Sprintf("this model's maximum context length is %d tokens; the messages' %d bytes of text encode to more tokens than that",
			s.eng.Config().MaxModelLen, n))
	}
	text, err := s.renderChat(ctx, c)
	if err != nil {
		return nil, err
	}
	return s.encodePrompt("prompt.chat.messages", text, false)
}

// renderChat renders messages with the request's template, else the model's,
// else chattemplate.FallbackTemplate (ChatML), under the server's limits.
func (s *Server) renderChat(ctx context.Context, c *enginev1.ChatPrompt) (string, error) {
	lim := s.chat.get()
	l := s.eng.Loaded()
	tmpl := l.Chat
	var err error
	fromRequest := c.GetChatTemplate() != ""
	switch {
	case fromRequest && !lim.AllowRequestTemplates:
		return "", invalid("prompt.chat.chat_template", errRequestTemplates)
	case fromRequest:
		tmpl, err = chattemplate.New(c.GetChatTemplate())
	case tmpl == nil:
		tmpl, err = fallback()
	}
	if err != nil {
		return "", invalid("prompt.chat.chat_template", templateMessage(err))
	}
	msgs, vars, err := templateInput(c, l.ChatVars)
	if err != nil {
		return "", err
	}
	add := c.AddGenerationPrompt == nil || c.GetAddGenerationPrompt()
	select {
	case renderSlots <- struct{}{}:
		defer func() { <-renderSlots }()
	case <-ctx.Done():
		return "", status.FromContextError(ctx.Err()).Err()
	}
	text, err := tmpl.RenderLimited(ctx, msgs, add, vars, chattemplate.Limits{
		MaxOutputBytes: lim.MaxOutputBytes, MaxSteps: lim.MaxSteps, Timeout: lim.Timeout,
	})
	if err == nil {
		return text, nil
	}
	if ctx.Err() != nil {
		return "", status.FromContextError(ctx.Err()).Err()
	}
	// A request's template is at fault for its own limits; the model's
	// template only exceeds them because of what the messages hold.
	if fromRequest && errors.Is(err, chattemplate.ErrLimit) {
		return "", invalid("prompt.chat.chat_template", templateMessage(err))
	}
	return "", invalid("prompt.chat.messages", templateMessage(err))
}

// templateMessage is err's text for a client, whose message already names
// the field: without the chattemplate package's own prefix, which would
// otherwise follow it ("chat_template: chattemplate: ...").
func templateMessage(err error) string {
	return strings.TrimPrefix(err.Error(), "chattemplate: ")
}

var (
	fallbackOnce sync.Once
	fallbackTmpl *chattemplate.Template
	fallbackErr  error
)

func fallback() (*chattemplate.Template, error) {
	fallbackOnce.Do(func() { fallbackTmpl, fallbackErr = chattemplate.New(chattemplate.FallbackTemplate) })
	return fallbackTmpl, fallbackErr
}
