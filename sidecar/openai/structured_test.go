package openai

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

const recipeSchema = `{"type":"object","properties":{"title":{"type":"string","maxLength":20},"servings":{"type":"integer","minimum":1,"maximum":12},"vegan":{"type":"boolean"},"steps":{"type":"array","items":{"type":"string","maxLength":10},"minItems":1,"maxItems":3}},"required":["title","servings","vegan","steps"],"additionalProperties":false}`

func mustValidate(t *testing.T, schema, text string) {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("s.json", doc); err != nil {
		t.Fatal(err)
	}
	v, err := c.Compile("s.json")
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		t.Fatalf("output does not parse: %v: %q", err, text)
	}
	if err := v.Validate(out); err != nil {
		t.Fatalf("output does not validate: %v: %q", err, text)
	}
}

type toolCallJSON struct {
	Index    *int   `json:"index"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type chatAnswer struct {
	Choices []struct {
		FinishReason string `json:"finish_reason"`
		Message      struct {
			Role      string         `json:"role"`
			Content   *string        `json:"content"`
			ToolCalls []toolCallJSON `json:"tool_calls"`
		} `json:"message"`
		Delta struct {
			Content   *string        `json:"content"`
			ToolCalls []toolCallJSON `json:"tool_calls"`
		} `json:"delta"`
	} `json:"choices"`
}

func chatBody(extra string) string {
	return `{"model":"stories260K","messages":[{"role":"user","content":"Tell me a story."}],"max_tokens":300,"temperature":1,"seed":3` + extra + `}`
}

func TestResponseFormatJSONSchema(t *testing.T) {
	p := startPod(t)
	rf := fmt.Sprintf(`,"response_format":{"type":"json_schema","json_schema":{"name":"recipe","strict":true,"schema":%s}}`, recipeSchema)
	var a chatAnswer
	ok(t, p.url+"/v1/chat/completions", chatBody(rf+`,"n":3`), &a)
	for _, c := range a.Choices {
		if c.FinishReason != "stop" || c.Message.Content == nil {
			t.Fatalf("finish %q content %v", c.FinishReason, c.Message.Content)
		}
		mustValidate(t, recipeSchema, *c.Message.Content)
	}
	var cmpl struct {
		Choices []struct {
			Text         string `json:"text"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
	}
	ok(t, p.url+"/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","max_tokens":300,"temperature":0`+rf+`}`, &cmpl)
	mustValidate(t, recipeSchema, cmpl.Choices[0].Text)
	// Streamed, the chunks add up to a valid document too.
	chunks, _ := stream(t, p.url+"/v1/chat/completions", chatBody(rf+`,"stream":true`))
	text := ""
	for _, c := range chunks {
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				text += *ch.Delta.Content
			}
		}
	}
	mustValidate(t, recipeSchema, text)
}

func TestResponseFormatJSONObject(t *testing.T) {
	p := startPod(t)
	var a chatAnswer
	ok(t, p.url+"/v1/chat/completions", chatBody(`,"max_tokens":40,"response_format":{"type":"json_object"}`), &a)
	if c := a.Choices[0].Message.Content; c == nil || !strings.HasPrefix(strings.TrimSpace(*c), "{") {
		t.Fatalf("content %v does not open an object", c)
	}
}

func TestResponseFormatErrors(t *testing.T) {
	p := startPod(t)
	chat, compl := p.url+"/v1/chat/completions", p.url+"/v1/completions"
	e := wantError(t, chat, chatBody(`,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"integer","multipleOf":3}}}`), 400, "response_format")
	if !strings.Contains(e.Error.Message, "multipleOf") {
		t.Errorf("the error does not name the feature: %s", e.Error.Message)
	}
	wantError(t, compl, `{"model":"stories260K","prompt":"x","response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"allOf":[]}}}}`, 400, "response_format")
	wantError(t, chat, chatBody(`,"response_format":{"type":"yaml"}`), 400, "response_format.type")
	wantError(t, chat, chatBody(`,"response_format":{"type":"json_schema"}`), 400, "response_format.json_schema")
	wantError(t, chat, chatBody(`,"response_format":{"type":"json_schema","json_schema":{"schema":{}}}`), 400, "response_format.json_schema.name")
}

const weatherTools = `,"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather in a city","parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":12},"unit":{"enum":["c","f"]}},"required":["city","unit"],"additionalProperties":false}}},{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"zone":{"type":"string","maxLength":8}},"required":["zone"],"additionalProperties":false}}}]`

const weatherParams = `{"type":"object","properties":{"city":{"type":"string","maxLength":12},"unit":{"enum":["c","f"]}},"required":["city","unit"],"additionalProperties":false}`

func TestToolChoiceNamed(t *testing.T) {
	p := startPod(t)
	body := chatBody(weatherTools + `,"tool_choice":{"type":"function","function":{"name":"get_weather"}}`)
	var a chatAnswer
	ok(t, p.url+"/v1/chat/completions", body, &a)
	c := a.Choices[0]
	if c.FinishReason != "stop" || c.Message.Content != nil || len(c.Message.ToolCalls) != 1 {
		t.Fatalf("answer %+v", c)
	}
	call := c.Message.ToolCalls[0]
	if call.Type != "function" || call.Function.Name != "get_weather" || !strings.HasPrefix(call.ID, "call_") || call.Index != nil {
		t.Fatalf("call %+v", call)
	}
	mustValidate(t, weatherParams, call.Function.Arguments)

	head, args, finish, fragments := streamedCalls(t, p.url, strings.TrimSuffix(body, "}")+`,"stream":true}`)
	if len(head) != 1 || head[0].Function.Name != "get_weather" || head[0].ID == "" || *head[0].Index != 0 || finish != "stop" || fragments < 2 {
		t.Fatalf("streamed heads %+v finish %q", head, finish)
	}
	if args[0] != call.Function.Arguments {
		t.Fatalf("streamed arguments %q, whole %q", args[0], call.Function.Arguments)
	}
}

// streamedCalls reads a chat stream's tool-call deltas: each call's head
// (id, name) and its arguments joined from the fragments.
func streamedCalls(t *testing.T, url, body string) (heads []toolCallJSON, args []string, finish string, fragments int) {
	t.Helper()
	_, raw := stream(t, url+"/v1/chat/completions", body)
	for _, data := range raw[:len(raw)-1] {
		var a chatAnswer
		if err := json.Unmarshal([]byte(data), &a); err != nil {
			t.Fatal(err)
		}
		for _, c := range a.Choices {
			if c.FinishReason != "" {
				finish = c.FinishReason
			}
			for _, d := range c.Delta.ToolCalls {
				if d.Index == nil {
					t.Fatalf("a tool call delta without index: %s", data)
				}
				if d.ID != "" {
					heads = append(heads, d)
					args = append(args, "")
				}
				if d.Function.Arguments != "" {
					args[*d.Index] += d.Function.Arguments
					fragments++
				}
			}
		}
	}
	return heads, args, finish, fragments
}

func TestToolChoiceRequired(t *testing.T) {
	p := startPod(t)
	body := chatBody(weatherTools + `,"tool_choice":"required","parallel_tool_calls":false`)
	var a chatAnswer
	ok(t, p.url+"/v1/chat/completions", body, &a)
	c := a.Choices[0]
	if c.FinishReason != "tool_calls" || len(c.Message.ToolCalls) != 1 {
		t.Fatalf("answer %+v", c)
	}
	call := c.Message.ToolCalls[0]
	switch call.Function.Name {
	case "get_weather":
		mustValidate(t, weatherParams, call.Function.Arguments)
	case "get_time":
		mustValidate(t, `{"type":"object","properties":{"zone":{"type":"string"}},"required":["zone"],"additionalProperties":false}`, call.Function.Arguments)
	default:
		t.Fatalf("called %q", call.Function.Name)
	}
	heads, args, finish, fragments := streamedCalls(t, p.url, strings.TrimSuffix(body, "}")+`,"stream":true}`)
	if len(heads) != 1 || heads[0].Function.Name != call.Function.Name || args[0] != call.Function.Arguments || finish != "tool_calls" || fragments < 2 {
		t.Fatalf("streamed %+v %q %q in %d fragments; whole %+v", heads, args, finish, fragments, call)
	}
	// With parallel calls, a seed that makes several: each streams under its
	// own index.
	for seed := 1; ; seed++ {
		body = strings.Replace(chatBody(weatherTools+`,"tool_choice":"required"`), `"seed":3`, fmt.Sprintf(`"seed":%d`, seed), 1)
		a = chatAnswer{}
		ok(t, p.url+"/v1/chat/completions", body, &a)
		if len(a.Choices[0].Message.ToolCalls) > 1 {
			break
		}
		if seed == 20 {
			t.Fatal("no seed in 20 made more than one call")
		}
	}
	heads, args, _, _ = streamedCalls(t, p.url, strings.TrimSuffix(body, "}")+`,"stream":true}`)
	if len(heads) != len(a.Choices[0].Message.ToolCalls) {
		t.Fatalf("streamed %d calls, whole %d", len(heads), len(a.Choices[0].Message.ToolCalls))
	}
	for k, c := range a.Choices[0].Message.ToolCalls {
		if heads[k].Function.Name != c.Function.Name || args[k] != c.Function.Arguments {
			t.Fatalf("call %d streamed %s(%s), whole %s(%s)", k, heads[k].Function.Name, args[k], c.Function.Name, c.Function.Arguments)
		}
	}
}

func TestToolRoundTrip(t *testing.T) {
	p := startPod(t)
	msgs := `[{"role":"user","content":"Weather in Paris?"},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"unit\":\"c\"}"}}]},` +
		`{"role":"tool","tool_call_id":"call_1","content":"sunny, 21"}]`
	var a chatAnswer
	ok(t, p.url+"/v1/chat/completions", `{"model":"stories260K","max_tokens":8,"messages":`+msgs+weatherTools+`}`, &a)
	if c := a.Choices[0]; c.Message.Content == nil || c.FinishReason != "length" || len(c.Message.ToolCalls) != 0 {
		t.Fatalf("answer %+v", c)
	}
}

func TestToolErrors(t *testing.T) {
	p := startPod(t)
	chat := p.url + "/v1/chat/completions"
	wantError(t, chat, chatBody(`,"tool_choice":"required"`), 400, "tool_choice")
	wantError(t, chat, chatBody(weatherTools+`,"tool_choice":"sometimes"`), 400, "tool_choice")
	wantError(t, chat, chatBody(weatherTools+`,"tool_choice":{"type":"function","function":{"name":"fly"}}`), 400, "tool_choice")
	wantError(t, chat, chatBody(`,"tools":[{"type":"retrieval"}]`), 400, "tools[0].type")
	wantError(t, chat, chatBody(`,"tools":[{"type":"function","function":{"name":"a b"}}]`), 400, "tools[0].function.name")
	wantError(t, chat, chatBody(`,"tools":{"a":1}`), 400, "tools")
	e := wantError(t, chat, chatBody(`,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"n":{"type":"integer","multipleOf":2}}}}}],"tool_choice":"required"`), 400, "tools")
	if !strings.Contains(e.Error.Message, "multipleOf") {
		t.Errorf("the error does not name the feature: %s", e.Error.Message)
	}
	wantError(t, chat, chatBody(weatherTools+`,"tool_choice":"required","response_format":{"type":"json_object"}`), 400, "response_format")
	wantError(t, chat, `{"model":"stories260K","messages":[{"role":"assistant","tool_calls":{"id":1}}]}`, 400, "messages[0].tool_calls")
}

// Auto choices read calls from the model's own format; stories260K never
// writes one, so the formats are fed to the answer directly.
func TestAutoToolAnswers(t *testing.T) {
	plan := &toolPlan{mode: toolsAuto, names: []string{"get_weather"}}
	msg, finish := plan.answer("Checking.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>", "stop")
	if finish != "tool_calls" || msg.Content == nil || *msg.Content != "Checking." || len(msg.ToolCalls) != 1 ||
		msg.ToolCalls[0].Function.Arguments != `{"city": "Oslo"}` {
		t.Fatalf("hermes: %+v %q", msg, finish)
	}
	msg, finish = plan.answer(`{"name": "get_weather", "parameters": {"city": "Rome"}}`, "stop")
	if finish != "tool_calls" || msg.Content != nil || msg.ToolCalls[0].Function.Name != "get_weather" {
		t.Fatalf("llama: %+v %q", msg, finish)
	}
	msg, finish = plan.answer("Just a story.", "length")
	if finish != "length" || *msg.Content != "Just a story." || msg.ToolCalls != nil {
		t.Fatalf("plain: %+v %q", msg, finish)
	}
	j := &job{chat: true, tools: plan}
	c := &choice{}
	if chunks := toolChunks(j, 0, c, "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {}}]"); len(chunks) != 0 {
		t.Fatalf("a call's start was streamed: %+v", chunks)
	}
	c.finish = "stop"
	chunks := toolChunks(j, 0, c, "")
	if len(chunks) != 3 || chunks[0].Delta.ToolCalls[0].Function.Name != "get_weather" || chunks[1].Delta.ToolCalls[0].Function.Arguments != "{}" ||
		*chunks[2].FinishReason != "tool_calls" {
		t.Fatalf("streamed mistral call: %+v", chunks)
	}
}

// A streamed auto choice sends its content as it comes, holding back only
// what could begin a call, and ends with the calls after the content.
func TestAutoStreamsContentUntilACall(t *testing.T) {
	j := &job{chat: true, tools: &toolPlan{mode: toolsAuto, names: []string{"add"}}}
	c := &choice{}
	var content []string
	var calls []toolCallOut
	var finish string
	for _, d := range []string{"Let", " me add.", " <tool", "_call>\n{\"name\": \"add\", ", "\"arguments\": {\"a\": 1}}\n</tool_call>"} {
		for _, ch := range toolChunks(j, 0, c, d) {
			if ch.Delta.Content != nil {
				content = append(content, *ch.Delta.Content)
			}
		}
	}
	c.finish = "stop"
	for _, ch := range toolChunks(j, 0, c, "") {
		calls = append(calls, ch.Delta.ToolCalls...)
		if ch.FinishReason != nil {
			finish = *ch.FinishReason
		}
	}
	if strings.Join(content, "|") != "Let| me add.| " {
		t.Fatalf("content chunks %q", content)
	}
	if len(calls) != 2 || calls[0].Function.Name != "add" || calls[1].Function.Arguments != `{"a": 1}` || finish != "tool_calls" {
		t.Fatalf("calls %+v finish %q", calls, finish)
	}
	// Plain text whose start looked like a marker is sent once it is not one.
	c = &choice{}
	if got := toolChunks(j, 0, c, "<"); len(got) != 0 {
		t.Fatalf("sent %+v", got)
	}
	if got := toolChunks(j, 0, c, "b>bold"); len(got) != 1 || *got[0].Delta.Content != "<b>bold" {
		t.Fatalf("sent %+v", got)
	}
}
