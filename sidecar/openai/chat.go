package openai

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// chatRequest is POST /v1/chat/completions.
type chatRequest struct {
	commonParams
	Messages            []chatMessage `json:"messages"`
	MaxCompletionTokens *int64        `json:"max_completion_tokens"`
	Logprobs            bool          `json:"logprobs"`
	TopLogprobs         *int64        `json:"top_logprobs"`
	ChatTemplate        string        `json:"chat_template"`
	// Tools stays raw: templates print it, and key order is what the
	// model's prompt shows.
	Tools             json.RawMessage `json:"tools"`
	ToolChoice        json.RawMessage `json:"tool_choice"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls"`
}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	Name       string          `json:"name"`
	ToolCalls  json.RawMessage `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
}

// maxMessages bounds a conversation: each message becomes a protobuf message
// on both sides of the engine's gRPC and a template value, and a real one
// holds hundreds.
const maxMessages = 1 << 14

// chatRoles are the roles OpenAI accepts; a template given any other role
// would render it as it likes, or not at all.
var chatRoles = []string{"system", "developer", "user", "assistant", "tool", "function"}

// messages checks the request's messages and returns them as the engine's.
func (req *chatRequest) messages() ([]*enginev1.ChatMessage, *apiError) {
	if len(req.Messages) == 0 {
		return nil, badRequest("messages", "messages must hold at least one message")
	}
	if len(req.Messages) > maxMessages {
		return nil, arrayTooLong("messages", maxMessages, len(req.Messages))
	}
	msgs := make([]*enginev1.ChatMessage, len(req.Messages))
	for i, m := range req.Messages {
		if m.Role == "" {
			p := fmt.Sprintf("messages[%d].role", i)
			return nil, badRequest(p, "Missing required parameter: '%s'.", p)
		}
		if !slices.Contains(chatRoles, m.Role) {
			p := fmt.Sprintf("messages[%d].role", i)
			return nil, badRequest(p, "Invalid value for '%s': %q. Supported values are: %s.", p, m.Role, strings.Join(chatRoles, ", "))
		}
		text, ok := m.text()
		if !ok {
			p := fmt.Sprintf("messages[%d].content", i)
			return nil, badRequest(p, "%s must be a string or a list of text parts", p)
		}
		msgs[i] = &enginev1.ChatMessage{Role: m.Role, Content: text, Name: m.Name, ToolCallId: m.ToolCallID}
		if len(m.ToolCalls) > 0 && string(m.ToolCalls) != "null" {
			var calls []json.RawMessage
			if json.Unmarshal(m.ToolCalls, &calls) != nil {
				p := fmt.Sprintf("messages[%d].tool_calls", i)
				return nil, badRequest(p, "%s must be a list of tool calls", p)
			}
			msgs[i].ToolCallsJson = string(m.ToolCalls)
		}
	}
	return msgs, nil
}

// text returns a message's content: a string, null, or a list of text parts.
func (m chatMessage) text() (string, bool) {
	if len(m.Content) == 0 || string(m.Content) == "null" {
		return "", true
	}
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s, true
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(m.Content, &parts) != nil {
		return "", false
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", false
		}
		b.WriteString(p.Text)
	}
	return b.String(), true
}
