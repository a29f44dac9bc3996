package openai

import (
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
		if r.Calls = toolcall.Forced(text); len(r.Calls) == 0 {
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

// streamsWhole reports whether a stream must hold a choice's text to its end:
// calls are only known once the output is complete (auto and required);
// a named choice streams its arguments as they come.
func (p *toolPlan) streamsWhole() bool {
	m := p.modeOrNone()
	return m == toolsAuto || m == toolsRequired
}
