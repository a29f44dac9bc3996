package chattemplate

import (
	"context"
	"fmt"
	"time"

	"github.com/graft-ai/graft/engine/chattemplate/internal/jinja"
)

// renderState holds the per-render budgets behind the globals that
// replace the library's own range(), raise_exception() and strftime_now().
type renderState struct {
	ctx        context.Context
	now        func() time.Time
	rangeLeft  int64
	macrosLeft int
}

func newRenderState(ctx context.Context, now func() time.Time) *renderState {
	return &renderState{ctx: ctx, now: now, rangeLeft: MaxRangeItems, macrosLeft: MaxMacroCalls}
}

// install puts the globals into the render's data. Data shadows the
// library's builtins, which is how these replace them.
func (s *renderState) install(data map[string]jinja.Value) {
	data["raise_exception"] = jinja.NewCallable("raise_exception", raiseException)
	data["strftime_now"] = jinja.NewCallable("strftime_now", s.strftimeNow)
	data["range"] = jinja.NewCallable("range", s.rangeFn)
	data["__graft_macro_enter"] = jinja.NewCallable("__graft_macro_enter", s.macroEnter)
}

func raiseException(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 {
		return jinja.Undefined(), &TemplateError{}
	}
	msg := args[0].String()
	if args[0].IsString() {
		msg = args[0].AsString()
	}
	return jinja.Undefined(), &TemplateError{Message: msg}
}

func (s *renderState) strftimeNow(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if len(args) != 1 || !args[0].IsString() {
		return jinja.Undefined(), fmt.Errorf("strftime_now: expected one format string")
	}
	return jinja.NewString(strftime(s.now(), args[0].AsString())), nil
}

func (s *renderState) macroEnter(_ []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if err := s.ctx.Err(); err != nil {
		return jinja.Undefined(), err
	}
	s.macrosLeft--
	if s.macrosLeft < 0 {
		return jinja.Undefined(), &LimitError{Limit: "macro calls", Max: MaxMacroCalls,
			msg: fmt.Sprintf("template makes more than %d macro calls (runaway recursion?)", MaxMacroCalls)}
	}
	return jinja.NewString(""), nil
}

// rangeFn is Python's range(), charged against the render's budget
// before anything is allocated.
func (s *renderState) rangeFn(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if err := s.ctx.Err(); err != nil {
		return jinja.Undefined(), err
	}
	start, stop, step, err := rangeArgs(args)
	if err != nil {
		return jinja.Undefined(), err
	}
	n := rangeLen(start, stop, step)
	if n > uint64(s.rangeLeft) {
		return jinja.Undefined(), &LimitError{Limit: "range", Max: MaxRangeItems,
			msg: fmt.Sprintf("template's range() calls would produce more than %d items", MaxRangeItems)}
	}
	s.rangeLeft -= int64(n)
	items := make([]jinja.Value, n)
	for i := range items {
		items[i] = jinja.NewInt(start + int64(i)*step)
	}
	return jinja.NewList(items), nil
}

func rangeArgs(args []jinja.Value) (start, stop, step int64, err error) {
	ints := make([]int64, len(args))
	for i, a := range args {
		if !a.IsInt() {
			return 0, 0, 0, fmt.Errorf("range: argument %d is not an integer", i+1)
		}
		ints[i] = a.AsInt()
	}
	switch len(ints) {
	case 1:
		return 0, ints[0], 1, nil
	case 2:
		return ints[0], ints[1], 1, nil
	case 3:
		if ints[2] == 0 {
			return 0, 0, 0, fmt.Errorf("range: step must not be zero")
		}
		return ints[0], ints[1], ints[2], nil
	}
	return 0, 0, 0, fmt.Errorf("range: expected 1 to 3 arguments, got %d", len(args))
}

// rangeLen is len(range(start, stop, step)) without overflow.
// Wrapping subtraction and negation give the right unsigned values even
// at the int64 extremes.
func rangeLen(start, stop, step int64) uint64 {
	if step > 0 && start < stop {
		return (uint64(stop-start)-1)/uint64(step) + 1
	}
	if step < 0 && start > stop {
		return (uint64(start-stop)-1)/uint64(-step) + 1
	}
	return 0
}
