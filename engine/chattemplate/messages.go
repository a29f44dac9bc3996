package chattemplate

import (
	"encoding/json"
	"fmt"
)

// ParseMessages decodes OpenAI-style chat messages (a JSON array of objects with
// role and content). Keys other than role, content, name, tool_calls and
// tool_call_id are kept in Extra so templates can read them.
func ParseMessages(data []byte) ([]Message, error) {
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("messages: want a JSON array of message objects: %w", err)
	}
	msgs := make([]Message, 0, len(raw))
	for i, obj := range raw {
		m, err := parseMessage(obj)
		if err != nil {
			return nil, fmt.Errorf("messages[%d]: %w", i, err)
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

func parseMessage(obj map[string]json.RawMessage) (Message, error) {
	var m Message
	if err := json.Unmarshal(obj["role"], &m.Role); err != nil || m.Role == "" {
		return m, fmt.Errorf("role must be a non-empty string")
	}
	for k, v := range obj {
		var err error
		switch k {
		case "role":
		case "content":
			m.Content, err = parseContent(v)
		case "name":
			err = json.Unmarshal(v, &m.Name)
		case "tool_call_id":
			err = json.Unmarshal(v, &m.ToolCallID)
		case "tool_calls":
			err = json.Unmarshal(v, &m.ToolCalls)
		default:
			if m.Extra == nil {
				m.Extra = map[string]any{}
			}
			m.Extra[k] = v
		}
		if err != nil {
			return m, fmt.Errorf("%s: %w", k, err)
		}
	}
	return m, nil
}

// parseContent accepts a string, null, or a list of content parts.
func parseContent(v json.RawMessage) (any, error) {
	if string(v) == "null" { // before the string case: null decodes into a string as ""
		return nil, nil
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s, nil
	}
	var parts []map[string]any
	if err := json.Unmarshal(v, &parts); err != nil {
		return nil, fmt.Errorf("want a string, null or a list of content parts")
	}
	return parts, nil
}
