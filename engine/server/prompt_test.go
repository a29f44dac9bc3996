package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// TestOverlongPromptRefusedForItsLength: a prompt text or chat message far
// longer than any context-sized text is refused as too long for the context,
// naming the field, and the server then answers a golden request.
func TestOverlongPromptRefusedForItsLength(t *testing.T) {
	h := start(t, time.Minute)
	huge := strings.Repeat("Once upon a time ", 2<<20/len("Once upon a time "))
	cases := []struct {
		field string
		req   *enginev1.GenerateRequest
	}{
		{"prompt.text", &enginev1.GenerateRequest{Prompt: &enginev1.GenerateRequest_Text{Text: huge}}},
		{"prompt.chat.messages", &enginev1.GenerateRequest{Prompt: &enginev1.GenerateRequest_Chat{Chat: &enginev1.ChatPrompt{
			Messages: []*enginev1.ChatMessage{{Role: "user", Content: huge}}}}}},
	}
	for _, c := range cases {
		s, err := h.client.Generate(context.Background(), c.req)
		if err == nil {
			_, err = s.Recv()
		}
		if status.Code(err) != codes.InvalidArgument || Param(err) != c.field || !strings.Contains(err.Error(), "maximum context length is 2048 tokens") {
			t.Errorf("%s: %v (param %q), want InvalidArgument on the context length", c.field, err, Param(err))
		}
	}
	// Just over the context in tokens but under the byte bound: encoded, then
	// refused by the engine for its token count.
	over := strings.Repeat("Once upon a time ", 2048/4)
	s, err := h.client.Generate(context.Background(), &enginev1.GenerateRequest{Prompt: &enginev1.GenerateRequest_Text{Text: over}})
	if err == nil {
		_, err = s.Recv()
	}
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "tokens") {
		t.Errorf("prompt of ~2048 tokens: %v", err)
	}
	assertGolden(t, h.client)
}
