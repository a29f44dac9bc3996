package openai

import (
	"strings"

	"github.com/graft-ai/graft/sidecar/openai/toolcall"
)

// answer turns a choice's text into its message: plain content, or tool
// calls as the plan reads them from the output. A choice that called tools
// finishes with "tool_calls", except a named choice, which OpenAI ends with
// "stop".
func (p *toolPlan) answer(text, finish string) (*chatMessageOut, string) {
	content, calls := p.calls(text)
	msg := &chatMessageOut{Role: "assistant", Content: content}
	for _, c := range calls {
		msg.ToolCalls = append(msg.ToolCalls, toolCallOut{ID: newID("call_"), Type: "function",
			Function: toolFunctionOut{Name: c.Name, Arguments: c.Arguments}})
	}
	if len(calls) > 0 && finish == "stop" && p.mode != toolsNamed {
		finish = "tool_calls"
	}
	return msg, finish
}

// calls splits text into content (nil when there is none beside calls) and
// tool calls. Output a forced choice did not finish (cut by max_tokens) is
// left as content.
func (p *toolPlan) calls(text string) (*string, []toolcall.Call) {
	var r toolcall.Result
	switch p.modeOrNone() {
	case toolsNamed:
		r.Calls = []toolcall.Call{{Name: p.named, Arguments: text}}
	case toolsRequired:
		// Read as the stream reads it: calls cut by max_tokens keep the
		// arguments they got, as OpenAI's do.
		for _, p := range toolcall.ScanForced(text) {
			r.Calls = append(r.Calls, toolcall.Call{Name: p.Name, Arguments: p.Args})
		}
		if len(r.Calls) == 0 {
			r.Content = text
		}
	case toolsAuto:
		r = toolcall.Parse(text, p.names)
	default:
		r.Content = text
	}
	if len(r.Calls) > 0 && r.Content == "" {
		return nil, r.Calls
	}
	return &r.Content, r.Calls
}

func (p *toolPlan) modeOrNone() toolMode {
	if p == nil {
		return toolsNone
	}
	return p.mode
}

// forcedStream is what a streamed required choice has sent: the id of each
// call it opened and the bytes of its arguments.
type forcedStream struct {
	ids  []string
	sent []int
}

// callMarkers open a tool call in the formats toolcall reads; a bare JSON
// object or list (Llama's format) opens one too when it starts the output.
var callMarkers = []string{"<tool_call>", "[TOOL_CALLS]", "<|python_tag|>"}

// autoStream splits a streamed auto choice into content to send now and text
// held until the end: its beginning while it could still open a call, any
// tail that could be the start of "<tool_call>", and everything from a call
// on, which toolcall.Parse reads once the choice ends.
type autoStream struct {
	held    string
	decided bool // the start is content
	calls   bool // a call began: hold the rest
}

// push takes a delta and returns the content that can be sent.
func (a *autoStream) push(delta string) string {
	a.held += delta
	if a.calls {
		return ""
	}
	if !a.decided {
		t := strings.TrimLeft(a.held, " \t\n\r")
		if t == "" {
			return ""
		}
		for _, m := range callMarkers {
			if strings.HasPrefix(t, m) {
				a.calls = true
				return ""
			}
			if strings.HasPrefix(m, t) {
				return ""
			}
		}
		if t[0] == '{' || t[0] == '[' {
			a.calls = true
			return ""
		}
		a.decided = true
	}
	if i := strings.Index(a.held, "<tool_call>"); i >= 0 {
		out := a.held[:i]
		a.held, a.calls = a.held[i:], true
		return out
	}
	keep := partialSuffix(a.held, "<tool_call>")
	out := a.held[:len(a.held)-keep]
	a.held = a.held[len(a.held)-keep:]
	return out
}

// partialSuffix is the length of the longest suffix of s that begins marker.
func partialSuffix(s, marker string) int {
	for n := min(len(s), len(marker)-1); n > 0; n-- {
		if strings.HasSuffix(s, marker[:n]) {
			return n
		}
	}
	return 0
}
