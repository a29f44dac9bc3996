package server

import (
	"context"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/internal/testengine"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// startWithLimits serves stories260K like start, under lim.
func startWithLimits(t *testing.T, lim *ChatLimits) enginev1.EngineClient {
	t.Helper()
	eng := testengine.Stories(t, engine.Config{MaxNumSeqs: 8})
	addr := "unix://" + filepath.Join(t.TempDir(), "engine.sock")
	lis, err := Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := New(eng, "stories260K")
	if lim != nil {
		srv.SetChatLimits(*lim)
	}
	g := grpc.NewServer()
	srv.Register(g)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, g, lis, 0) }()
	t.Cleanup(func() { cancel(); <-done })
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return enginev1.NewEngineClient(conn)
}

func chatRequest(template string) *enginev1.GenerateRequest {
	return &enginev1.GenerateRequest{
		Prompt: &enginev1.GenerateRequest_Chat{Chat: &enginev1.ChatPrompt{
			Messages:     []*enginev1.ChatMessage{{Role: "user", Content: "Once upon a time"}},
			ChatTemplate: template,
		}},
		Sampling: &enginev1.SamplingParams{MaxTokens: 4},
	}
}

// generateErr runs req to its end: io.EOF when it succeeded.
func generateErr(c enginev1.EngineClient, req *enginev1.GenerateRequest) error {
	s, err := c.Generate(context.Background(), req)
	if err != nil {
		return err
	}
	for {
		if _, err := s.Recv(); err != nil {
			return err
		}
	}
}

// assertGolden checks the server still answers the golden greedy request.
func assertGolden(t *testing.T, c enginev1.EngineClient) {
	t.Helper()
	want := greedyIDs(t)[:16]
	s, err := c.Generate(context.Background(), &enginev1.GenerateRequest{
		Prompt:   &enginev1.GenerateRequest_TokenIds{TokenIds: &enginev1.TokenIds{Ids: []int32{1}}},
		Sampling: &enginev1.SamplingParams{MaxTokens: 16},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ids, _, _, _ := collect(t, s); !slices.Equal(ids, want) {
		t.Fatalf("golden ids\n got %v\nwant %v", ids, want)
	}
}

func TestRequestTemplateRefusedByDefault(t *testing.T) {
	c := startWithLimits(t, nil)
	err := generateErr(c, chatRequest("{{ messages[0].content }}"))
	if status.Code(err) != codes.InvalidArgument || Param(err) != "prompt.chat.chat_template" ||
		!strings.Contains(err.Error(), "--allow-request-chat-template") {
		t.Fatalf("err = %v (param %q), want InvalidArgument on prompt.chat.chat_template naming the flag", err, Param(err))
	}
	// The model's own template still renders.
	if err := generateErr(c, chatRequest("")); err != io.EOF {
		t.Fatalf("model template: %v", err)
	}
	assertGolden(t, c)
}

func TestRequestTemplateAttacksFailOnTheirLimit(t *testing.T) {
	c := startWithLimits(t, &ChatLimits{AllowRequestTemplates: true})
	for _, a := range []struct{ src, limit string }{
		{`{{ "x" * 1000000000000 }}`, "output limit"},
		{`{{ "x" * 400000000 }}`, "output limit"},
		{`{% for a in "x"*30000 %}{% for b in "x"*30000 %}{% endfor %}{% endfor %}`, "memory limit"},
		{`{% set l = range(3000)|list %}{% for a in l %}{% for b in l %}{% endfor %}{% endfor %}`, "step limit"},
	} {
		err := generateErr(c, chatRequest(a.src))
		if status.Code(err) != codes.InvalidArgument || Param(err) != "prompt.chat.chat_template" ||
			!strings.Contains(err.Error(), a.limit) {
			t.Errorf("%s: err = %v (param %q), want InvalidArgument naming the %s", a.src, err, Param(err), a.limit)
		}
		// The field names the error once, without the renderer's package after it.
		if st, _ := status.FromError(err); !strings.HasPrefix(st.Message(), "prompt.chat.chat_template: template ") {
			t.Errorf("%s: message %q, want it to start with the field and then the template's problem", a.src, st.Message())
		}
	}
	// A harmless request template renders.
	if err := generateErr(c, chatRequest("{{ messages[0].content }}")); err != io.EOF {
		t.Fatalf("plain request template: %v", err)
	}
	assertGolden(t, c)
}

func TestModelTemplateOverLimitNamesMessages(t *testing.T) {
	c := startWithLimits(t, &ChatLimits{MaxOutputBytes: 64})
	req := chatRequest("")
	req.GetChat().Messages[0].Content = strings.Repeat("long ", 100)
	err := generateErr(c, req)
	if status.Code(err) != codes.InvalidArgument || Param(err) != "prompt.chat.messages" ||
		!strings.Contains(err.Error(), "output limit of 64 bytes") {
		t.Fatalf("err = %v (param %q)", err, Param(err))
	}
	assertGolden(t, c)
}
