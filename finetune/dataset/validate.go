package dataset

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// rawLine keeps each field raw so a wrong type is reported by name rather
// than as a generic unmarshal error.
type rawLine map[string]json.RawMessage

var roles = map[string]bool{"system": true, "user": true, "assistant": true}

// parseLine returns the example or, when the line is bad, why.
func parseLine(raw []byte) (Example, string) {
	if !utf8.Valid(raw) {
		return Example{}, "not valid UTF-8"
	}
	var fields rawLine
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&fields); err != nil {
		return Example{}, "not a JSON object: " + jsonReason(err)
	}
	if dec.More() {
		return Example{}, "more than one JSON value on the line"
	}
	_, chat := fields["messages"]
	_, prompt := fields["prompt"]
	_, completion := fields["completion"]
	switch {
	case chat && (prompt || completion):
		return Example{}, `mixes "messages" with "prompt"/"completion"; use one format`
	case chat:
		return parseChat(fields["messages"])
	case prompt || completion:
		return parsePromptCompletion(fields)
	default:
		return Example{}, `want "messages" (chat format) or "prompt" and "completion"`
	}
}

func parsePromptCompletion(f rawLine) (Example, string) {
	var ex Example
	if err := stringField(f, "prompt", &ex.Prompt); err != "" {
		return ex, err
	}
	if err := stringField(f, "completion", &ex.Completion); err != "" {
		return ex, err
	}
	if strings.TrimSpace(ex.Completion) == "" {
		return ex, `"completion" is empty: there is nothing to learn`
	}
	return ex, ""
}

func stringField(f rawLine, name string, dst *string) string {
	raw, ok := f[name]
	if !ok {
		return fmt.Sprintf("%q is missing", name)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Sprintf("%q must be a string", name)
	}
	return ""
}

func parseChat(raw json.RawMessage) (Example, string) {
	var msgs []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &msgs); err != nil {
		return Example{}, `"messages" must be an array of objects`
	}
	if len(msgs) == 0 {
		return Example{}, `"messages" is empty`
	}
	ex := Example{Messages: make([]Message, 0, len(msgs))}
	learned := false
	for i, m := range msgs {
		msg, reason := parseMessage(m)
		if reason != "" {
			return Example{}, fmt.Sprintf("messages[%d]: %s", i, reason)
		}
		learned = learned || msg.Learned()
		ex.Messages = append(ex.Messages, msg)
	}
	if !learned {
		return Example{}, "no assistant message to learn from (every assistant turn is missing or has weight 0)"
	}
	return ex, ""
}

func parseMessage(m map[string]json.RawMessage) (Message, string) {
	var msg Message
	if m == nil {
		return msg, "must be an object"
	}
	if err := json.Unmarshal(m["role"], &msg.Role); err != nil || msg.Role == "" {
		return msg, `"role" must be a string`
	}
	if !roles[msg.Role] {
		return msg, fmt.Sprintf("unknown role %q (want system, user or assistant)", msg.Role)
	}
	if _, ok := m["content"]; !ok {
		return msg, `"content" is missing`
	}
	if err := json.Unmarshal(m["content"], &msg.Content); err != nil {
		return msg, `"content" must be a string`
	}
	if w, ok := m["weight"]; ok {
		var weight int
		if err := json.Unmarshal(w, &weight); err != nil || (weight != 0 && weight != 1) {
			return msg, `"weight" must be 0 or 1`
		}
		if msg.Role != "assistant" {
			return msg, `"weight" is only allowed on assistant messages`
		}
		msg.Weight = &weight
	}
	return msg, ""
}

func jsonReason(err error) string {
	if se, ok := err.(*json.SyntaxError); ok {
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	return err.Error()
}
