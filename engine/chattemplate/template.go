package chattemplate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ardanlabs/jinja"
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

// ErrLimit is wrapped by render errors caused by MaxRangeItems or
// MaxMacroCalls.
var ErrLimit = errors.New("chattemplate: render limit exceeded")

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

// RenderContext is Render that stops early, with ctx's error, once ctx is
// done. Cancellation is checked at every range() and macro call.
func (t *Template) RenderContext(ctx context.Context, messages []Message, addGenerationPrompt bool, vars map[string]any) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	data, err := t.data(ctx, messages, addGenerationPrompt, vars)
	if err != nil {
		return "", err
	}
	out, err := t.execute(data)
	if err != nil {
		var te *TemplateError
		if errors.As(err, &te) {
			return "", te
		}
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return "", ctxErr
		}
		return "", fmt.Errorf("chattemplate: render: %w", err)
	}
	return out, nil
}

func (t *Template) execute(data map[string]jinja.Value) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("template engine panicked: %v", r)
		}
	}()
	return t.compiled.RenderValues(data)
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
