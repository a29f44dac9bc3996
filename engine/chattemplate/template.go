package chattemplate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/graft-ai/graft/engine/chattemplate/internal/jinja"
)

// Limits on one render. Jinja has no unbounded loop statement, so with
// these two bounds every render of every template terminates: loops run
// over finite data, range() output is capped in total, and macro calls
// (the only way to recurse) are capped in number.
const (
	// MaxRangeItems caps the total number of items that range() may
	// produce in one render, across all calls.
	MaxRangeItems = 1 << 20
	// MaxMacroCalls caps macro calls in one render. It keeps recursion far
	// below the depth that would overflow the Go stack.
	MaxMacroCalls = 10000
)

// TemplateError is what a template's raise_exception(msg) returns. Its
// Error() is exactly msg, as transformers' TemplateError message is, so
// a CLI can print it as is.
type TemplateError struct {
	Message string
}

func (e *TemplateError) Error() string { return e.Message }

// ErrLimit matches (with errors.Is) every *LimitError.
var ErrLimit = errors.New("chattemplate: render limit exceeded")

// Limits bound one render. Whatever the template and its data, a render
// under these limits allocates at most 16 × MaxOutputBytes bytes of
// template values (2× that counting builder slack), runs at most
// MaxSteps steps and Timeout, and nests at most 1000 levels deep.
type Limits struct {
	// MaxOutputBytes caps the rendered prompt and every string the
	// template builds on the way.
	MaxOutputBytes int
	// MaxSteps caps evaluation steps: statements, expressions, loop
	// iterations, and one per 256 bytes copied.
	MaxSteps int
	// Timeout caps the render's wall time.
	Timeout time.Duration
}

// DefaultLimits are the limits of Render and RenderContext. 1 MiB of
// prompt is about 250k tokens of English, more than any context served
// here; a million steps take well under a second and are over a hundred
// times what real templates take for a 100-message conversation.
var DefaultLimits = Limits{MaxOutputBytes: 1 << 20, MaxSteps: 1_000_000, Timeout: 5 * time.Second}

// allocFactor is MaxAllocBytes / MaxOutputBytes: templates build the
// prompt from pieces by concatenation, so they allocate a few times what
// they output.
const allocFactor = 16

// LimitError is the error of a render that exceeded a limit. Limit names
// it: "output", "memory", "steps", "time", "depth", "range" or "macro calls".
type LimitError struct {
	Limit string
	Max   int64
	msg   string
}

func (e *LimitError) Error() string { return "chattemplate: " + e.msg }

// Is makes errors.Is(err, ErrLimit) true for every limit.
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// Template is a compiled chat template. It is safe for concurrent use.
type Template struct {
	source   string
	compiled *jinja.Template
	defaults map[string]string // special tokens from a Config; vars override them
	now      func() time.Time
}

// New compiles a chat template source once.
func New(source string) (*Template, error) {
	compiled, err := compile(guardMacros(normalizeSource(source)))
	if err != nil {
		return nil, fmt.Errorf("chattemplate: syntax error: %w", err)
	}
	return &Template{source: source, compiled: compiled, now: time.Now}, nil
}

func compile(src string) (t *jinja.Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("template engine panicked: %v", r)
		}
	}()
	return jinja.Compile(src)
}

// Source returns the template text as given to New.
func (t *Template) Source() string { return t.source }

// reserved names are set by Render and cannot be passed in vars.
var reserved = map[string]bool{
	"messages": true, "add_generation_prompt": true,
	"raise_exception": true, "strftime_now": true, "range": true,
	"__graft_macro_enter": true,
}

// Render renders messages the way transformers' apply_chat_template(
// messages, tokenize=False, add_generation_prompt=...) does. vars are
// extra template variables (bos_token, eos_token, tools, documents,
// enable_thinking, ...); they override a Config's special tokens. Values
// must be plain data: strings, numbers, bools, nil, slices, string-keyed
// maps, Message, or json.RawMessage (decoded keeping key order). Variables
// not given, tools and documents included, are undefined in the template.
func (t *Template) Render(messages []Message, addGenerationPrompt bool, vars map[string]any) (string, error) {
	return t.RenderContext(context.Background(), messages, addGenerationPrompt, vars)
}

// RenderContext is Render under DefaultLimits that stops early, with
// ctx's error, once ctx is done.
func (t *Template) RenderContext(ctx context.Context, messages []Message, addGenerationPrompt bool, vars map[string]any) (string, error) {
	return t.RenderLimited(ctx, messages, addGenerationPrompt, vars, DefaultLimits)
}

// RenderLimited is RenderContext under lim. Zero fields of lim take
// DefaultLimits' values. A render over a limit fails with a *LimitError;
// one whose ctx is done fails with ctx's error.
func (t *Template) RenderLimited(ctx context.Context, messages []Message, addGenerationPrompt bool, vars map[string]any, lim Limits) (string, error) {
	lim = lim.withDefaults()
	if err := ctx.Err(); err != nil {
		return "", err
	}
	rctx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	data, err := t.data(rctx, messages, addGenerationPrompt, vars)
	if err != nil {
		return "", err
	}
	out, err := t.execute(rctx, data, lim)
	if err == nil {
		return out, nil
	}
	var te *TemplateError
	var le *LimitError
	var jle *jinja.LimitError
	switch {
	case errors.As(err, &te):
		return "", te
	case errors.As(err, &le):
		return "", le
	case errors.As(err, &jle):
		return "", &LimitError{Limit: jle.Limit, Max: jle.Max, msg: jle.Error()}
	case ctx.Err() != nil:
		return "", ctx.Err()
	case rctx.Err() != nil:
		return "", &LimitError{Limit: "time", Max: int64(lim.Timeout),
			msg: fmt.Sprintf("template takes longer than its time limit of %v", lim.Timeout)}
	}
	return "", fmt.Errorf("chattemplate: render: %w", err)
}

func (l Limits) withDefaults() Limits {
	if l.MaxOutputBytes <= 0 {
		l.MaxOutputBytes = DefaultLimits.MaxOutputBytes
	}
	if l.MaxSteps <= 0 {
		l.MaxSteps = DefaultLimits.MaxSteps
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultLimits.Timeout
	}
	return l
}

func (t *Template) execute(ctx context.Context, data map[string]jinja.Value, lim Limits) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("template engine panicked: %v", r)
		}
	}()
	return t.compiled.RenderLimited(ctx, data, jinja.Limits{
		MaxOutputBytes: lim.MaxOutputBytes,
		MaxAllocBytes:  allocFactor * int64(lim.MaxOutputBytes),
		MaxSteps:       int64(lim.MaxSteps),
	})
}

func (t *Template) data(ctx context.Context, messages []Message, addGenerationPrompt bool, vars map[string]any) (map[string]jinja.Value, error) {
	data := make(map[string]jinja.Value, len(t.defaults)+len(vars)+8)
	for k, v := range t.defaults {
		data[k] = jinja.NewString(v)
	}
	for k, v := range vars {
		if reserved[k] {
			return nil, fmt.Errorf("chattemplate: vars may not set %q", k)
		}
		val, err := toValue(v)
		if err != nil {
			return nil, fmt.Errorf("chattemplate: var %s: %w", k, err)
		}
		data[k] = val
	}
	msgs, err := toValue(messages)
	if err != nil {
		return nil, fmt.Errorf("chattemplate: %w", err)
	}
	data["messages"] = msgs
	data["add_generation_prompt"] = jinja.NewBool(addGenerationPrompt)
	newRenderState(ctx, t.now).install(data)
	return data, nil
}
