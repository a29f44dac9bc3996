package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/internal/testengine"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

const pointSchema = `{"type":"object","properties":{"x":{"type":"integer"},"label":{"enum":["a","b"]}},"required":["x","label"],"additionalProperties":false}`

func constrained(c *enginev1.Constraint) *enginev1.GenerateRequest {
	return &enginev1.GenerateRequest{
		Prompt:     &enginev1.GenerateRequest_Text{Text: "Once upon a time"},
		Sampling:   &enginev1.SamplingParams{MaxTokens: 200, Temperature: 1, Seed: new(uint64(5))},
		Constraint: c,
	}
}

func TestGenerateUnderSchema(t *testing.T) {
	h := start(t, 0)
	s, err := h.client.Generate(context.Background(), constrained(&enginev1.Constraint{Kind: &enginev1.Constraint_JsonSchema{JsonSchema: pointSchema}}))
	if err != nil {
		t.Fatal(err)
	}
	_, text, last, _ := collect(t, s)
	var got struct {
		X     *int    `json:"x"`
		Label *string `json:"label"`
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil || got.X == nil || got.Label == nil || (*got.Label != "a" && *got.Label != "b") {
		t.Fatalf("output %q: %v", text, err)
	}
	if last.FinishReason != enginev1.FinishReason_FINISH_REASON_STOP {
		t.Fatalf("finish %v", last.FinishReason)
	}
}

func TestUnsupportedSchemaNamesFeature(t *testing.T) {
	h := start(t, 0)
	for schema, feature := range map[string]string{
		`{"type":"integer","multipleOf":2}`: "multipleOf",
		`{"allOf":[]}`:                      "allOf",
		`{"type":`:                          "document",
	} {
		err := generateErr(h.client, constrained(&enginev1.Constraint{Kind: &enginev1.Constraint_JsonSchema{JsonSchema: schema}}))
		if status.Code(err) != codes.InvalidArgument || Param(err) != "constraint.json_schema" || !strings.Contains(err.Error(), feature) {
			t.Errorf("%s: %v (param %q), want InvalidArgument on constraint.json_schema naming %s", schema, err, Param(err), feature)
		}
	}
}

func TestCompiledSchemasAreCached(t *testing.T) {
	srv := New(testengine.Stories(t, engine.Config{}), "stories260K")
	c := &enginev1.Constraint{Kind: &enginev1.Constraint_JsonSchema{JsonSchema: pointSchema}}
	a, err := srv.grammar(c)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := srv.grammar(c)
	if a != b || !srv.grammars.cached(pointSchema) {
		t.Fatal("the second request compiled the schema again")
	}
	for i := range maxCachedGrammars {
		if _, err := srv.grammar(&enginev1.Constraint{Kind: &enginev1.Constraint_JsonSchema{JsonSchema: `{"const":` + string(rune('0'+i%10)) + strings.Repeat(" ", i) + `}`}}); err != nil {
			t.Fatal(err)
		}
	}
	if srv.grammars.cached(pointSchema) {
		t.Fatal("the least recently used schema outlived the cache bound")
	}
}

// Tools reach the template as "tools" and an assistant's tool calls as
// message.tool_calls with their arguments decoded, as transformers passes them.
func TestToolsReachTheTemplate(t *testing.T) {
	srv := New(testengine.Stories(t, engine.Config{}), "stories260K")
	srv.SetChatLimits(ChatLimits{AllowRequestTemplates: true})
	tmpl := `{% for t in tools %}{{ t.function.name }};{% endfor %}` +
		`{% for m in messages %}{{ m.role }}:{% if m.tool_calls %}{{ m.tool_calls[0].function.name }}({{ m.tool_calls[0].function.arguments.city }}){{ m.tool_calls[0].function.arguments | tojson }}{% endif %}{{ m.tool_call_id }}{{ m.content }}|{% endfor %}`
	text, err := srv.renderChat(context.Background(), &enginev1.ChatPrompt{
		ChatTemplate: tmpl,
		ToolsJson:    `[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]`,
		Messages: []*enginev1.ChatMessage{
			{Role: "user", Content: "Weather?"},
			{Role: "assistant", ToolCallsJson: `[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"unit\":\"c\",\"city\":\"Paris\"}"}}]`},
			{Role: "tool", ToolCallId: "call_1", Content: "sunny"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := `get_weather;user:Weather?|assistant:get_weather(Paris){"unit": "c", "city": "Paris"}|tool:call_1sunny|`; text != want {
		t.Fatalf("rendered %q, want %q", text, want)
	}
	_, err = srv.renderChat(context.Background(), &enginev1.ChatPrompt{ChatTemplate: tmpl, ToolsJson: `{"not":"a list"}`,
		Messages: []*enginev1.ChatMessage{{Role: "user", Content: "x"}}})
	if Param(err) != "prompt.chat.tools_json" {
		t.Fatalf("tools not a list: %v", err)
	}
}

// cached reports whether schema's compiled grammar is held.
func (c *grammarCache) cached(schema string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.byKey[schema]
	return ok
}
