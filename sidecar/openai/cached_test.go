package openai

import (
	"strings"
	"testing"
)

// TestCachedTokensInUsage: a repeated prompt reports, in OpenAI's
// usage.prompt_tokens_details.cached_tokens, the prompt tokens the engine's
// prefix cache served (whole 16-token blocks), with the same text; a first
// prompt none. Streams with include_usage report it too.
func TestCachedTokensInUsage(t *testing.T) {
	p := startPod(t)
	body := `{"model":"stories260K","messages":[{"role":"system","content":"` + strings.Repeat("Lily and Tom play in the park. ", 8) +
		`"},{"role":"user","content":"Tell me a story"}],"max_tokens":8,"temperature":0}`
	var first, second completion
	ok(t, p.url+"/v1/chat/completions", body, &first)
	ok(t, p.url+"/v1/chat/completions", body, &second)
	if first.Usage.Details.CachedTokens != 0 {
		t.Fatalf("first request: %d cached tokens", first.Usage.Details.CachedTokens)
	}
	cached, prompt := second.Usage.Details.CachedTokens, second.Usage.PromptTokens
	if cached == 0 || cached%16 != 0 || cached >= prompt || prompt-cached > 16 {
		t.Fatalf("repeated prompt of %d tokens: %d cached, want every whole block short of the last token", prompt, cached)
	}
	if first.Choices[0].Message.Content != second.Choices[0].Message.Content {
		t.Fatalf("cached prompt changed the answer: %q vs %q", second.Choices[0].Message.Content, first.Choices[0].Message.Content)
	}
	chunks, _ := stream(t, p.url+"/v1/chat/completions", strings.Replace(body, `"temperature":0`, `"temperature":0,"stream":true,"stream_options":{"include_usage":true}`, 1))
	if u := chunks[len(chunks)-1].Usage; u == nil || u.Details.CachedTokens != cached {
		t.Fatalf("streamed usage %+v, want %d cached tokens", u, cached)
	}
}
