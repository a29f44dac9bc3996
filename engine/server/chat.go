package server

import (
	"context"
	"sync"

	"github.com/graft-ai/graft/engine/chattemplate"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// chatPrompt renders a chat prompt and tokenizes it without adding special
// tokens: the template writes BOS itself where the model wants one, as in vLLM.
func (s *Server) chatPrompt(ctx context.Context, c *enginev1.ChatPrompt) ([]int32, error) {
	text, err := s.renderChat(ctx, c)
	if err != nil {
		return nil, err
	}
	ids, err := s.eng.Loaded().Tokenizer.Encode(text, false)
	if err != nil {
		return nil, invalid("prompt.chat.messages", err.Error())
	}
	return ids, nil
}

// renderChat renders messages with the request's template, else the model's,
// else chattemplate.FallbackTemplate (ChatML).
func (s *Server) renderChat(ctx context.Context, c *enginev1.ChatPrompt) (string, error) {
	l := s.eng.Loaded()
	tmpl := l.Chat
	var err error
	switch {
	case c.GetChatTemplate() != "":
		tmpl, err = chattemplate.New(c.GetChatTemplate())
	case tmpl == nil:
		tmpl, err = fallback()
	}
	if err != nil {
		return "", invalid("prompt.chat.chat_template", err.Error())
	}
	msgs := make([]chattemplate.Message, len(c.GetMessages()))
	for i, m := range c.GetMessages() {
		msgs[i] = chattemplate.Message{Role: m.GetRole(), Content: m.GetContent(), Name: m.GetName()}
	}
	add := c.AddGenerationPrompt == nil || c.GetAddGenerationPrompt()
	text, err := tmpl.RenderContext(ctx, msgs, add, l.ChatVars)
	if err != nil {
		return "", invalid("prompt.chat.messages", err.Error())
	}
	return text, nil
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
