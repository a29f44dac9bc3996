package chattemplate

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func render(t *testing.T, src string, vars map[string]any) (string, error) {
	t.Helper()
	tmpl, err := New(src)
	if err != nil {
		return "", err
	}
	return tmpl.Render([]Message{TextMessage("user", "hi")}, true, vars)
}

func TestNoFileSystem(t *testing.T) {
	for _, src := range []string{
		"{% include '/etc/passwd' %}",
		"{% import '/etc/passwd' as p %}",
		"{% from '/etc/passwd' import x %}",
		"{% extends '/etc/passwd' %}",
	} {
		if _, err := New(src); err == nil {
			t.Errorf("New(%q) compiled; templates must not load files", src)
		}
	}
}

type secretHolder struct{ secret string }

func (s secretHolder) Secret() string { return s.secret }

func TestNoGoMethods(t *testing.T) {
	// A Go value with methods cannot even be passed in: only data crosses.
	_, err := render(t, "{{ v.Secret() }}", map[string]any{"v": secretHolder{"s3cret"}})
	if err == nil || !strings.Contains(err.Error(), "unsupported type") {
		t.Fatalf("struct var: err = %v, want unsupported type", err)
	}
	// Python escape hatches reach nothing: dunder attributes are undefined
	// and calling them fails.
	for _, src := range []string{
		"{{ ''.__class__.__mro__[1].__subclasses__() }}",
		"{{ messages.__class__ }}{{ raise_exception.__globals__ }}",
		"{{ messages[0].__init__.__globals__['os'] }}",
		"{{ cycler.__init__.__globals__.os.popen('id').read() }}",
	} {
		out, err := render(t, src, nil)
		if err == nil && strings.TrimSpace(out) != "" {
			t.Errorf("%q rendered %q; want nothing or an error", src, out)
		}
	}
}

func TestHugeRangeIsBounded(t *testing.T) {
	for _, src := range []string{
		"{% for i in range(1000000000) %}x{% endfor %}",
		"{% for i in range(10**9) %}x{% endfor %}",
		"{% for i in range(-9223372036854775807, 9223372036854775807) %}x{% endfor %}",
		"{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}x{% endfor %}{% endfor %}{% endfor %}",
	} {
		_, err := render(t, src, nil)
		if err == nil {
			t.Errorf("%q rendered; want an error", src)
			continue
		}
		if !errors.Is(err, ErrLimit) && !strings.Contains(err.Error(), "range") {
			t.Errorf("%q: err = %v, want a range limit error", src, err)
		}
	}
	out, err := render(t, "{% for i in range(2, 11, 3) %}{{ i }},{% endfor %}{{ range(5, 0, -2)|list }}", nil)
	if err != nil || out != "2,5,8,[5, 3, 1]" {
		t.Fatalf("range = %q, %v", out, err)
	}
}

func TestRecursionIsBounded(t *testing.T) {
	for _, src := range []string{
		"{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
		"{%- macro a(n) -%}{{ b(n) }}{%- endmacro -%}{% macro b(n) %}{{ a(n + 1) }}{% endmacro %}{{ a(0) }}",
	} {
		_, err := render(t, src, nil)
		if !errors.Is(err, ErrLimit) {
			t.Errorf("%q: err = %v, want ErrLimit", src, err)
		}
	}
	// Bounded recursion still works.
	out, err := render(t, "{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}", nil)
	if err != nil || out != "54321" {
		t.Fatalf("bounded recursion = %q, %v", out, err)
	}
}

func TestRenderContextCancelled(t *testing.T) {
	tmpl, err := New("{% for i in range(3) %}{{ i }}{% endfor %}")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tmpl.RenderContext(ctx, nil, false, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestNegativeRepeatIsEmpty(t *testing.T) {
	// Python gives "" for a count below one; upstream panicked.
	out, err := render(t, "[{{ 'a' * -1 }}{{ 'a' * 0 }}]", nil)
	if err != nil || out != "[]" {
		t.Fatalf("got %q, %v; want \"[]\"", out, err)
	}
}

func TestRaiseExceptionInMacro(t *testing.T) {
	_, err := render(t, "{% macro m() %}{{ raise_exception('bad role: ' ~ messages[0].role) }}{% endmacro %}{% for x in [1] %}{{ m() }}{% endfor %}", nil)
	var te *TemplateError
	if !errors.As(err, &te) || err.Error() != "bad role: user" {
		t.Fatalf("err = %#v", err)
	}
}

func TestSyntaxError(t *testing.T) {
	for _, src := range []string{"{% if x %}", "{{ 1 }", "{% for %}", "{% endfor %}"} {
		_, err := New(src)
		if err == nil || !strings.Contains(err.Error(), "syntax error") {
			t.Errorf("New(%q) err = %v, want a syntax error", src, err)
		}
	}
}

func TestReservedVars(t *testing.T) {
	if _, err := render(t, "x", map[string]any{"range": 1}); err == nil {
		t.Fatal("vars overriding range() must be refused")
	}
}
