// Package toolcall finds the tool calls in a model's output, in the formats
// the common chat-template families teach their models: Hermes and Qwen's
// <tool_call>{json}</tool_call> blocks, Mistral's [TOOL_CALLS] [json, ...]
// and Llama 3.x's bare {"name": ..., "parameters": {...}} (after an optional
// <|python_tag|>). It also reads the JSON array a forced tool choice is
// constrained to.
package toolcall

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
)

// Call is one function call: its name and its arguments as JSON text.
type Call struct {
	Name      string
	Arguments string
}

// Result is an output split into the text for message.content and the calls.
type Result struct {
	Content string
	Calls   []Call
}

var hermesBlock = regexp.MustCompile(`(?s)<tool_call>\s*(.*?)\s*(?:</tool_call>|$)`)

// Parse splits text into content and tool calls. tools are the functions the
// request declared: a bare JSON object (Llama's format, which has no marker)
// only counts as a call when it names one of them. No calls found: the whole
// text is content.
func Parse(text string, tools []string) Result {
	if i := strings.Index(text, "<tool_call>"); i >= 0 {
		if calls := hermes(text[i:]); len(calls) > 0 {
			return Result{Content: strings.TrimSpace(text[:i]), Calls: calls}
		}
	}
	if i := strings.Index(text, "[TOOL_CALLS]"); i >= 0 {
		if calls := list(text[i+len("[TOOL_CALLS]"):]); len(calls) > 0 {
			return Result{Content: strings.TrimSpace(text[:i]), Calls: calls}
		}
	}
	body := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(text), "<|python_tag|>"))
	if calls := bare(body); len(calls) > 0 && declared(calls, tools) {
		return Result{Calls: calls}
	}
	return Result{Content: text}
}

func hermes(text string) []Call {
	var calls []Call
	for _, m := range hermesBlock.FindAllStringSubmatch(text, -1) {
		c, ok := object([]byte(m[1]))
		if !ok {
			return nil
		}
		calls = append(calls, c)
	}
	return calls
}

// list reads a JSON array of call objects (Mistral's format, and a forced
// tool choice's output).
func list(text string) []Call {
	var items []json.RawMessage
	if json.Unmarshal([]byte(strings.TrimSpace(text)), &items) != nil {
		return nil
	}
	calls := make([]Call, 0, len(items))
	for _, it := range items {
		c, ok := object(it)
		if !ok {
			return nil
		}
		calls = append(calls, c)
	}
	return calls
}

// bare reads Llama's format: one call object, a list of them, or objects
// separated by semicolons.
func bare(text string) []Call {
	if strings.HasPrefix(text, "[") {
		return list(text)
	}
	var calls []Call
	for part := range strings.SplitSeq(text, ";") {
		c, ok := object([]byte(part))
		if !ok {
			return nil
		}
		calls = append(calls, c)
	}
	return calls
}

// object reads {"name": ..., "arguments" or "parameters": {...}}; arguments
// given as a JSON string (some models quote them) are taken as that string.
func object(raw []byte) (Call, bool) {
	var o struct {
		Name       string          `json:"name"`
		Arguments  json.RawMessage `json:"arguments"`
		Parameters json.RawMessage `json:"parameters"`
	}
	if json.Unmarshal(bytes.TrimSpace(raw), &o) != nil || o.Name == "" {
		return Call{}, false
	}
	args := o.Arguments
	if len(args) == 0 {
		args = o.Parameters
	}
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage("{}")
	}
	var s string
	if json.Unmarshal(args, &s) == nil {
		return Call{Name: o.Name, Arguments: s}, true
	}
	return Call{Name: o.Name, Arguments: string(args)}, true
}

func declared(calls []Call, tools []string) bool {
	for _, c := range calls {
		if !slices.Contains(tools, c.Name) {
			return false
		}
	}
	return true
}

// Forced reads the output of a "required" tool choice: the JSON array of
// {"name", "parameters"} objects generation was constrained to.
func Forced(text string) []Call { return list(text) }
