package jinja

// This file is not part of ardanlabs/jinja v1.8.0: it adds the per-render
// limits that the upstream library has no hooks for (see NOTICE).

import (
	"context"
	"fmt"
	"strings"
)

// Limits bound one render. A render that exceeds one stops with a
// *LimitError; no single operation allocates before its size has been
// charged against MaxAllocBytes.
type Limits struct {
	// MaxOutputBytes caps the rendered text and every string the
	// template builds (a string longer than the output is never needed).
	MaxOutputBytes int
	// MaxAllocBytes caps the bytes of strings, lists and dicts a render
	// creates, summed over the render (garbage included), so it also
	// bounds the render's peak memory.
	MaxAllocBytes int64
	// MaxSteps caps evaluation steps (statements, expressions, loop
	// iterations, and one step per 256 bytes copied).
	MaxSteps int64
}

// Fixed structural limits: Go stacks grow to 1 GB before the runtime
// kills the process, so recursion must end long before that.
const (
	// MaxDepth caps nesting: of parsed expressions and blocks, of macro
	// calls, and of values walked when printing or comparing them.
	MaxDepth = 1000
	// valueBytes is what one list item or dict entry is charged.
	valueBytes = 48
	// ctxEvery is how many steps pass between checks of the context.
	ctxEvery = 1024
)

// LimitError reports which limit a render exceeded.
type LimitError struct {
	Limit string // "output", "memory", "steps" or "depth"
	Max   int64
}

func (e *LimitError) Error() string {
	switch e.Limit {
	case "output":
		return fmt.Sprintf("template output or a string it builds exceeds the output limit of %d bytes", e.Max)
	case "memory":
		return fmt.Sprintf("template allocates more than its memory limit of %d bytes", e.Max)
	case "steps":
		return fmt.Sprintf("template takes more than its step limit of %d steps", e.Max)
	}
	return fmt.Sprintf("template nests deeper than %d levels", e.Max)
}

// abort carries an error out of deep evaluation by panic; render
// recovers it. Panicking keeps the limit checks out of every error path
// of the upstream code.
type abort struct{ err error }

// budget is one render's remaining allowance. It is used by one
// goroutine only.
type budget struct {
	lim   Limits
	ctx   context.Context
	steps int64
	alloc int64
	depth int
}

func newBudget(ctx context.Context, lim Limits) *budget {
	return &budget{lim: lim, ctx: ctx}
}

func (b *budget) fail(limit string, max int64) {
	panic(abort{&LimitError{Limit: limit, Max: max}})
}

// step charges n evaluation steps and polls the context.
func (b *budget) step(n int64) {
	before := b.steps
	b.steps += n
	if b.steps > b.lim.MaxSteps {
		b.fail("steps", b.lim.MaxSteps)
	}
	if before/ctxEvery != b.steps/ctxEvery {
		if err := b.ctx.Err(); err != nil {
			panic(abort{err})
		}
	}
}

// charge accounts for n bytes about to be allocated. n is int64 so
// that callers can pass products without overflow checks of their own.
func (b *budget) charge(n int64) {
	if n < 0 || n > b.lim.MaxAllocBytes-b.alloc {
		b.fail("memory", b.lim.MaxAllocBytes)
	}
	b.alloc += n
	b.step(n / 256)
}

// str charges a string of n bytes about to be built.
func (b *budget) str(n int64) {
	if n < 0 || n > int64(b.lim.MaxOutputBytes) {
		b.fail("output", int64(b.lim.MaxOutputBytes))
	}
	b.charge(n)
}

// items charges a list or dict of n entries about to be built.
func (b *budget) items(n int) {
	b.charge(int64(n)*valueBytes + valueBytes)
}

// enter and leave bracket recursion into nested values or macro calls.
func (b *budget) enter() {
	b.depth++
	if b.depth > MaxDepth {
		b.fail("depth", MaxDepth)
	}
}

func (b *budget) leave() { b.depth-- }

// builder is a strings.Builder that charges every write, so that
// printing a list that holds the same string a million times fails at
// the limit instead of allocating the whole expansion first.
type builder struct {
	b  *budget
	sb strings.Builder
}

func (w *builder) WriteString(s string) {
	if int64(w.sb.Len())+int64(len(s)) > int64(w.b.lim.MaxOutputBytes) {
		w.b.fail("output", int64(w.b.lim.MaxOutputBytes))
	}
	w.b.charge(int64(len(s)))
	w.sb.WriteString(s)
}

func (w *builder) Len() int { return w.sb.Len() }

func (w *builder) WriteByte(c byte) error {
	w.WriteString(string(c))
	return nil
}

func (w *builder) String() string { return w.sb.String() }

func (w *builder) Write(p []byte) {
	if int64(w.sb.Len())+int64(len(p)) > int64(w.b.lim.MaxOutputBytes) {
		w.b.fail("output", int64(w.b.lim.MaxOutputBytes))
	}
	w.b.charge(int64(len(p)))
	w.sb.Write(p)
}
