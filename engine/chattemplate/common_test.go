package chattemplate

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The templates below are written from memory in the shape of real ones
// (Llama 3, Qwen2 ChatML with tools, Mistral [INST]); they are not the
// models' exact files. Expected texts marked "Python" were rendered with
// Python Jinja2 3.1.6 set up as transformers sets it up
// (ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True),
// loopcontrols, raise_exception, tojson(ensure_ascii=False)).

const llama3Template = `{{- bos_token }}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{{- system_message }}
{{- "<|eot_id|>" }}
{%- for message in messages %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
`

const qwen2Template = `{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
`

const mistralTemplate = "{{ bos_token }}{% for message in messages %}" +
	"{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
	"{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}" +
	"{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}"

var chat = []Message{
	TextMessage("system", "  Be brief.  "),
	TextMessage("user", "Hi <b>&</b> é"),
	TextMessage("assistant", "Hello!"),
	TextMessage("user", "Bye"),
}

func mustRender(t *testing.T, src string, msgs []Message, gen bool, vars map[string]any) string {
	t.Helper()
	tmpl, err := New(src)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tmpl.Render(msgs, gen, vars)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLlama3Headers(t *testing.T) {
	got := mustRender(t, llama3Template, chat, true, map[string]any{"bos_token": "<|begin_of_text|>"})
	// Python.
	want := "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi <b>&</b> é<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestQwen2ToolsKeepKeyOrder(t *testing.T) {
	tools := json.RawMessage(`[{"type": "function", "function": {"name": "get_weather", "description": "Météo & <stuff>", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "n": {"type": "number", "default": 1.5}, "m": {"type": "integer", "minimum": 0}}, "required": ["city"]}}}]`)
	got := mustRender(t, qwen2Template, chat[1:], true, map[string]any{"tools": tools})
	// Python.
	want := "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Météo & <stuff>\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}, \"n\": {\"type\": \"number\", \"default\": 1.5}, \"m\": {\"type\": \"integer\", \"minimum\": 0}}, \"required\": [\"city\"]}}}\n</tools><|im_end|>\n<|im_start|>user\nHi <b>&</b> é<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestQwen2DefaultSystemWithoutTools(t *testing.T) {
	got := mustRender(t, qwen2Template, chat[1:], false, nil)
	if !strings.HasPrefix(got, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud.") {
		t.Errorf("no default system prompt: %q", got)
	}
	if strings.HasSuffix(got, "<|im_start|>assistant\n") || strings.Count(got, "<|im_start|>") != 4 {
		t.Errorf("want 4 turns and no generation prompt: %q", got)
	}
}

func TestMistralAlternation(t *testing.T) {
	vars := map[string]any{"bos_token": "<s>", "eos_token": "</s>"}
	got := mustRender(t, mistralTemplate, chat[1:], true, vars)
	if got != "<s>[INST] Hi <b>&</b> é [/INST]Hello!</s>[INST] Bye [/INST]" {
		t.Errorf("got %q", got)
	}
	tmpl, _ := New(mistralTemplate)
	_, err := tmpl.Render(chat, true, vars)
	if err == nil || err.Error() != "Conversation roles must alternate user/assistant/user/assistant/..." {
		t.Errorf("err = %v", err)
	}
}

func TestMacroGuardKeepsWhitespace(t *testing.T) {
	src := "{% macro render(p) -%}\n  [{{ p.name }}]\n{%- endmacro %}\n{% macro item(x) %}\n  <{{ x }}>\n{% endmacro %}\n" +
		"{%- for m in messages %}\n  {{ render(m) }}\n  {{- item(m.role) }}\n{% endfor %}\n"
	msgs := []Message{{Role: "user", Content: "a", Name: "ann"}, {Role: "assistant", Content: "b", Name: "bot"}}
	// Python.
	if got := mustRender(t, src, msgs, false, nil); got != "  [ann]  <user>\n\n  [bot]  <assistant>\n\n" {
		t.Errorf("got %q", got)
	}
}

func TestSourceNewlines(t *testing.T) {
	// Python Jinja2 turns \r\n into \n and drops one trailing newline.
	if got := mustRender(t, "a\r\nb\n\n", nil, false, nil); got != "a\nb\n" {
		t.Errorf("got %q", got)
	}
}

func TestFallbackTemplate(t *testing.T) {
	got := mustRender(t, FallbackTemplate, chat[1:3], true, nil)
	want := "<|im_start|>user\nHi <b>&</b> é<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>assistant\n"
	if got != want {
		t.Errorf("got %q", got)
	}
}

func TestContentPartsAndUndefinedTools(t *testing.T) {
	src := "{% for m in messages %}{% if m.content is string %}{{ m.content }}{% else %}" +
		"{% for p in m['content'] %}{{ p.text if p.type == 'text' else '<image>' }}{% endfor %}{% endif %}|{% endfor %}" +
		"{{ 'T' if tools is defined else 'U' }}{{ 'D' if documents is defined else 'U' }}"
	msgs := []Message{
		{Role: "user", Content: []map[string]any{{"type": "text", "text": "look"}, {"type": "image"}}},
		{Role: "assistant", Content: "ok"},
	}
	if got := mustRender(t, src, msgs, false, nil); got != "look<image>|ok|UU" {
		t.Errorf("got %q", got)
	}
}

func TestStrftimeNow(t *testing.T) {
	tmpl, err := New(`{{ strftime_now("%d %b %Y %H:%M:%S %A %B %j %I%p 100%%") }}`)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.now = func() time.Time { return time.Date(2024, 7, 4, 15, 4, 5, 0, time.UTC) }
	got, err := tmpl.Render(nil, false, nil)
	if err != nil || got != "04 Jul 2024 15:04:05 Thursday July 186 03PM 100%" {
		t.Errorf("got %q, %v", got, err)
	}
}
