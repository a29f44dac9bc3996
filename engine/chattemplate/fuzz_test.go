package chattemplate

import (
	"context"
	"errors"
	"testing"
)

// FuzzRender feeds arbitrary template sources and messages through New and
// RenderLimited: whatever the input, the result is text within the output
// limit or an error, never a panic, a crash out of memory or stack, or a
// hang.
func FuzzRender(f *testing.F) {
	for _, src := range []string{
		FallbackTemplate, llama3Template, qwen2Template, mistralTemplate,
		"{% for m in messages %}{% if loop.first and m['role'] != 'system' %}{{ '<|im_start|>system\nsys<|im_end|>\n' }}{% endif %}{{ m.role }}{% endfor %}",
		"{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
		"{% for i in range(10**9) %}{{ i }}{% endfor %}",
		"{% set ns = namespace(x=0) %}{% for i in range(5) %}{% if i == 3 %}{% break %}{% endif %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}",
		"{{ messages | tojson(indent=2) }}{{ raise_exception('no') }}",
		"{% raw %}{% macro x %}{% endraw %}{{ '{% macro' }}",
		`{{ "x" * 1000000000000 }}`,
		`{% for a in "x"*30000 %}{% for b in "x"*30000 %}{% endfor %}{% endfor %}`,
	} {
		f.Add(src, "user", "Hello é 🍮", true)
	}
	f.Add("{{ messages[0]['content'] * 3 }}", "assistant", "", false)
	f.Fuzz(func(t *testing.T, src, role, content string, gen bool) {
		tmpl, err := New(src)
		if err != nil {
			return
		}
		msgs := []Message{TextMessage("system", "s"), TextMessage(role, content)}
		vars := map[string]any{"bos_token": "<s>", "eos_token": "</s>", "tools": []any{map[string]any{"name": "t"}}}
		lim := Limits{MaxOutputBytes: 64 << 10, MaxSteps: 100_000}
		out, err := tmpl.RenderLimited(context.Background(), msgs, gen, vars, lim)
		if len(out) > lim.MaxOutputBytes {
			t.Fatalf("output of %d bytes is over the limit", len(out))
		}
		var te *TemplateError
		if errors.As(err, &te) && err != error(te) {
			t.Fatalf("TemplateError returned wrapped: %v", err)
		}
	})
}

// FuzzParseConfig checks that any bytes give a Config or an error.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"chat_template": "{{ bos_token }}", "bos_token": {"content": "<s>"}, "eos_token": "</s>"}`))
	f.Add([]byte(`{"chat_template": [{"name": "default", "template": "x"}, {"name": "rag", "template": "y"}]}`))
	f.Add([]byte(`{"chat_template": null, "pad_token": null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			return
		}
		_, _ = cfg.Template("")
	})
}
