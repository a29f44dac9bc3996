package openai

import "strings"

// paramNames translates the engine's request fields, which it names by their
// path in GenerateRequest ("sampling.temperature", "prompt.chat.messages"), to
// the OpenAI parameters one request sent.
type paramNames struct {
	chat bool
	// maxTokens is "max_tokens" or "max_completion_tokens", whichever the
	// request used: both become sampling.max_tokens.
	maxTokens string
	// constraint is the parameter behind the engine's constraint:
	// response_format, or tools when a forced tool choice set it.
	constraint string
}

// fieldParams is the OpenAI parameter behind each engine field whose name
// differs, for chat and for completions. Fields are keyed without their
// "sampling." prefix: every other sampling field keeps its OpenAI name.
var fieldParams = map[string]struct{ chat, completions string }{
	"prompt":                    {"messages", "prompt"},
	"prompt.text":               {"messages", "prompt"},
	"prompt.token_ids":          {"messages", "prompt"},
	"prompt.chat":               {"messages", "prompt"},
	"prompt.chat.messages":      {"messages", "prompt"},
	"prompt.chat.chat_template": {"chat_template", "prompt"},
	"top_logprobs":              {"top_logprobs", "logprobs"},
	"adapter_id":                {"model", "model"},
	"prompt.chat.tools_json":    {"tools", "prompt"},
}

// mergedParam is the engine's message for the body's "adapters".
const mergedParam = "merged_adapters"

// param returns the OpenAI parameter for an engine field; "" stays "". A nil
// p (a call outside a generation, such as loading an adapter) reads fields
// as completions would.
func (p *paramNames) param(field string) string {
	f := strings.TrimPrefix(field, "sampling.")
	if f == "" {
		return ""
	}
	if p == nil {
		p = &paramNames{maxTokens: "max_tokens"}
	}
	if f == "max_tokens" {
		return p.maxTokens
	}
	if rest, ok := strings.CutPrefix(f, mergedParam); ok {
		return "adapters" + rest
	}
	if strings.HasPrefix(f, "constraint") && p.constraint != "" {
		return p.constraint
	}
	names, ok := fieldParams[f]
	switch {
	case !ok:
		return f
	case p.chat:
		return names.chat
	}
	return names.completions
}

// renameField rewrites a field the engine quoted in its message, so the client
// reads the name it sent. Plain words ("prompt", "n") are left alone: the
// engine's sentences use them as words too.
func renameField(msg, field, param string) string {
	if !strings.ContainsAny(field, "._") || param == "" {
		return msg
	}
	return strings.ReplaceAll(msg, field, param)
}
