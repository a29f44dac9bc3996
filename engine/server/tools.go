package server

import (
	"encoding/json"
	"fmt"
	"maps"

	"github.com/graft-ai/graft/engine/chattemplate"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// templateInput turns a chat prompt into the template's messages and
// variables: tools become the "tools" variable and an assistant's tool calls
// message.tool_calls, as transformers' apply_chat_template passes them.
func templateInput(c *enginev1.ChatPrompt, base map[string]any) ([]chattemplate.Message, map[string]any, error) {
	msgs := make([]chattemplate.Message, len(c.GetMessages()))
	for i, m := range c.GetMessages() {
		msgs[i] = chattemplate.Message{Role: m.GetRole(), Content: m.GetContent(), Name: m.GetName(), ToolCallID: m.GetToolCallId()}
		if m.GetToolCallsJson() == "" {
			continue
		}
		calls, err := toolCalls(m.GetToolCallsJson())
		if err != nil {
			return nil, nil, invalid("prompt.chat.messages", fmt.Sprintf("messages[%d].tool_calls: %v", i, err))
		}
		msgs[i].ToolCalls = calls
	}
	vars := base
	if t := c.GetToolsJson(); t != "" {
		var tools []any
		if err := json.Unmarshal([]byte(t), &tools); err != nil {
			return nil, nil, invalid("prompt.chat.tools_json", "tools must be a JSON array: "+err.Error())
		}
		vars = maps.Clone(base)
		if vars == nil {
			vars = map[string]any{}
		}
		vars["tools"] = json.RawMessage(t)
	}
	return msgs, vars, nil
}

// toolCalls decodes OpenAI tool calls, their function arguments (a JSON
// string on the wire) decoded into the object templates expect, as vLLM does.
// They stay JSON text, so the template prints the client's key order.
func toolCalls(raw string) ([]any, error) {
	var calls []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &calls); err != nil {
		return nil, fmt.Errorf("want a JSON array of tool calls: %w", err)
	}
	out := make([]any, len(calls))
	for i, c := range calls {
		var fn map[string]json.RawMessage
		if json.Unmarshal(c["function"], &fn) == nil && fn != nil {
			var args string
			if json.Unmarshal(fn["arguments"], &args) == nil && json.Valid([]byte(args)) {
				fn["arguments"] = json.RawMessage(args)
				c["function"], _ = json.Marshal(fn)
			}
		}
		b, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		out[i] = json.RawMessage(b)
	}
	return out, nil
}
