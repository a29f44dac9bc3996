package gateway

import (
	"context"

	extproc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// A gateway loaded into Envoy (see Call) first decides a request on the
// Envoy worker thread that received it, where waiting would stall every
// other request on that thread. Such a context makes each step that would
// wait (a lookup the caches do not hold, a wake, a wait for tokens) give up
// with errWouldBlock before it has changed anything; the caller then runs
// the whole step again on a goroutine of its own.
type inlineKey struct{}

func inlineContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, inlineKey{}, true)
}

func inline(ctx context.Context) bool { return ctx.Value(inlineKey{}) != nil }

// errWouldBlock is never sent: it only tells an inline caller to retry off
// Envoy's thread.
var errWouldBlock = &apiError{code: "would_block", message: "the gateway would wait"}

// wouldBlock is the answer that carries errWouldBlock out of a step.
var wouldBlock = &extproc.ProcessingResponse{}

// markWouldWait renames the span of an inline step that gave up, so that a
// trace shows the attempt apart from the step's run off Envoy's thread.
func markWouldWait(span trace.Span, name string) {
	span.SetName(name + ".would_wait")
	span.SetAttributes(attribute.Bool("graft.retried_off_envoy_thread", true))
}
