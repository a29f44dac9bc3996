package jinja

import (
	"context"
	"fmt"
)

// Template is a compiled Jinja template ready for rendering.
type Template struct {
	nodes []node
	src   string
}

// Compile parses a Jinja template source string and returns a compiled
// template that can be rendered multiple times with different data.
func Compile(source string) (*Template, error) {
	segs, err := scan(source)
	if err != nil {
		return nil, fmt.Errorf("jinja scan: %w", err)
	}

	nodes, err := parseTemplate(segs)
	if err != nil {
		return nil, fmt.Errorf("jinja parse: %w", err)
	}

	return &Template{nodes: nodes, src: source}, nil
}

// Render executes the template with the provided data and returns the
// rendered string. Each call creates an isolated scope so templates are
// safe to render concurrently after compilation.
func (t *Template) Render(data map[string]any) (string, error) {
	// Convert Go data to Value types.
	vals := make(map[string]Value, len(data))
	for k, v := range data {
		vals[k] = FromGoValue(v)
	}

	return t.RenderLimited(context.Background(), vals, DefaultLimits)
}

// RenderValues is like Render but accepts pre-converted Value data.
func (t *Template) RenderValues(data map[string]Value) (string, error) {
	return t.RenderLimited(context.Background(), data, DefaultLimits)
}

// DefaultLimits are the limits of Render and RenderValues.
var DefaultLimits = Limits{MaxOutputBytes: 1 << 20, MaxAllocBytes: 16 << 20, MaxSteps: 10_000_000}

// RenderLimited renders under lim and stops with ctx's error soon after
// ctx is done. A render over a limit returns a *LimitError.
func (t *Template) RenderLimited(ctx context.Context, data map[string]Value, lim Limits) (out string, err error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	b := newBudget(ctx, lim)
	defer func() {
		if r := recover(); r != nil {
			a, ok := r.(abort)
			if !ok {
				panic(r)
			}
			out, err = "", a.err
		}
	}()
	return render(b, t.nodes, data)
}

// =============================================================================

// render executes the AST with the given data and returns the result.
func render(b *budget, nodes []node, data map[string]Value) (string, error) {
	e := evaluator{b: b, output: builder{b: b}}
	e.builtins = newBuiltins(b)

	// Create user data scope on top of builtins.
	e.scope = newScope(e.builtins)
	for k, v := range data {
		e.scope.set(k, v)
	}

	if err := e.execNodes(nodes); err != nil {
		return "", err
	}

	return e.output.String(), nil
}
