package chattemplate

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// attacks are templates that, unbounded, exhaust memory, the stack or a
// core. Each must fail with the named limit.
var attacks = []struct {
	name, src, limit string
}{
	{"huge repeat", `{{ "x" * 1000000000000 }}`, "output"},
	{"large repeat", `{{ "x" * 400000000 }}`, "output"},
	{"repeat of a computed count", `{{ "x" * (10 ** 12)|int }}`, "output"},
	{"nested loops over strings", `{% for a in "x"*30000 %}{% for b in "x"*30000 %}{% endfor %}{% endfor %}`, "memory"},
	{"nested loops over lists", `{% set l = range(3000)|list %}{% for a in l %}{% for b in l %}{% endfor %}{% endfor %}`, "steps"},
	{"recursive macro", `{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}`, "depth"},
	{"huge range", `{% for i in range(1000000000) %}{% endfor %}`, "range"},
	{"doubling in a loop", `{% set ns = namespace(s="x") %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}`, "output"},
	{"concatenation in a loop", `{% set ns = namespace(s="") %}{% for i in range(1000000) %}{% set ns.s = ns.s + "xxxxxxxxxxxxxxxx" %}{% endfor %}`, "memory"},
	{"join of a huge list", `{% set s = "x" * 1000000 %}{% set l = [] %}{% for i in range(100000) %}{{ l.append(s) }}{% endfor %}{{ l|join(",") }}`, "output"},
	{"print of a huge list", `{% set s = "x" * 1000000 %}{% set l = [s, s, s, s, s, s, s, s] %}{{ l ~ l }}`, "output"},
	{"tojson of a huge list", `{% set s = "x" * 500000 %}{{ [s, s, s]|tojson }}`, "output"},
	{"self-containing list", `{% set l = [] %}{{ l.append(l) }}{{ l }}`, "depth"},
	{"self-containing list compared", `{% set l = [] %}{{ l.append(l) }}{{ l == l }}`, "depth"},
	{"indent width", `{{ "a\nb" | indent(1000000000000) }}`, "output"},
	{"replace amplification", `{{ ("x" * 100000).replace("x", "y" * 100000) }}`, "output"},
	{"format amplification", `{{ "{0}{0}{0}{0}".format("{1}{1}{1}{1}" * 10000, "z" * 10000) }}`, "output"},
	{"deep parentheses", strings.Repeat("{{ ", 1) + strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000) + " }}", ""},
	{"long left-deep chain", "{{ " + strings.Repeat("1 + ", 100000) + "1 }}", "depth"},
}

func TestLimitsStopAttacks(t *testing.T) {
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			tmpl, err := New(a.src)
			if err == nil {
				_, err = tmpl.Render([]Message{TextMessage("user", "hi")}, true, nil)
			}
			runtime.ReadMemStats(&after)
			if a.limit == "" { // refused when parsed
				if err == nil || !strings.Contains(err.Error(), "nesting deeper") {
					t.Fatalf("err = %v, want a nesting error", err)
				}
				return
			}
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != a.limit || !errors.Is(err, ErrLimit) {
				t.Fatalf("err = %v, want the %s limit", err, a.limit)
			}
			// The bound: 16 × MaxOutputBytes of values, with slack for
			// builders' doubling and the runtime's own bookkeeping.
			if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 64<<20 {
				t.Errorf("heap grew by %d bytes", grew)
			}
		})
	}
}

func TestHugeSliceBounds(t *testing.T) {
	// Upstream counted from start to stop one by one, however far
	// outside the list they were.
	out, err := render(t, `{{ [1, 2, 3][-9223372036854775807:9223372036854775807:2] }}{{ "héllo"[9223372036854775807:-9223372036854775807:-2] }}`, nil)
	if err != nil || out != "[1, 3]olh" {
		t.Fatalf("got %q, %v", out, err)
	}
}

func TestLimitErrorNamesTheLimit(t *testing.T) {
	tmpl, err := New(`{{ "x" * 2000 }}`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tmpl.RenderLimited(context.Background(), nil, false, nil, Limits{MaxOutputBytes: 1000})
	if err == nil || !strings.Contains(err.Error(), "output limit of 1000 bytes") {
		t.Fatalf("err = %v", err)
	}
	tmpl, err = New(`{% for m in messages %}{{ m.content }}{% endfor %}`)
	if err != nil {
		t.Fatal(err)
	}
	msgs := []Message{TextMessage("user", "a"), TextMessage("user", "b")}
	_, err = tmpl.RenderLimited(context.Background(), msgs, false, nil, Limits{MaxSteps: 5})
	if err == nil || !strings.Contains(err.Error(), "step limit of 5 steps") {
		t.Fatalf("err = %v", err)
	}
	out, err := tmpl.RenderLimited(context.Background(), msgs, false, nil, Limits{MaxSteps: 100})
	if err != nil || out != "ab" {
		t.Fatalf("got %q, %v", out, err)
	}
}

// TestCancelStopsRender cancels from inside the render (raise_exception
// cannot, but a custom var can't run code either), so it cancels the
// context before a render that would otherwise run to the step limit.
func TestCancelStopsRender(t *testing.T) {
	tmpl, err := New(`{% set l = range(3000)|list %}{% for a in l %}{% for b in l %}{% endfor %}{% endfor %}`)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stop := make(chan struct{})
	go func() {
		<-stop
		cancel()
	}()
	// Steps are high enough that only the cancellation can end it.
	done := make(chan error, 1)
	go func() {
		_, err := tmpl.RenderLimited(ctx, nil, false, nil, Limits{MaxSteps: 1 << 62})
		done <- err
	}()
	close(stop)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
