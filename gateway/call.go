package gateway

import (
	"context"
	"strconv"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extproc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/graft-ai/graft/internal/tracing"
)

// Call is one request decided inside Envoy's process (the gateway loaded as
// an Envoy dynamic module, cmd/graft-envoy-gateway) rather than over
// ext_proc. It takes the same steps as Process, with the same code: the
// request's headers, then, when they do not settle it, its whole body.
//
// A step run inline (on Envoy's worker thread) never waits: its Verdict
// says Blocked when it would have, and the caller runs the same step again
// on a goroutine, which may wait (a Redis lookup, a deployment waking).
type Call struct {
	g      *Gateway
	parent trace.SpanContext // what the gateway's spans continue
	ex     exchange
}

// Verdict is what Envoy does with the request after a step.
type Verdict struct {
	// Status, when not zero, answers the client directly with Status,
	// Headers and Body; the request goes no further.
	Status  int
	Body    []byte
	Details string // why, for Envoy's access log (%RESPONSE_CODE_DETAILS%)
	// Headers are set on the request (or, with Status, on the answer);
	// Remove are removed from it.
	Headers    [][2]string
	Remove     []string
	ClearRoute bool // the headers changed the route: pick it again
	// NeedBody: the headers step needs the whole body to decide.
	NeedBody bool
	// Blocked: the inline step would have waited and changed nothing.
	Blocked bool
}

// NewCall starts a request's call. parent is the span context the
// gateway's spans continue (Envoy's span for the request); when it is not
// valid, the request's own traceparent, if any, is continued.
func (g *Gateway) NewCall(parent trace.SpanContext, traceparent, tracestate string) *Call {
	if !parent.IsValid() && traceparent != "" {
		ctx := tracing.Propagator.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceparent, "tracestate": tracestate})
		parent = trace.SpanContextFromContext(ctx)
	}
	return &Call{g: g, parent: parent}
}

// Headers decides on the request's headers; endOfStream says no body follows.
func (c *Call) Headers(ctx context.Context, method, path, authorization string, endOfStream, inlineStep bool) Verdict {
	c.ex.method, c.ex.path, c.ex.authorization = method, path, authorization
	resp := c.g.decideHeaders(c.stepContext(ctx, inlineStep), &c.ex, endOfStream)
	if resp == nil {
		return Verdict{NeedBody: true}
	}
	return verdictOf(resp)
}

// Body decides on the whole body, once Headers asked for it.
func (c *Call) Body(ctx context.Context, body []byte, inlineStep bool) Verdict {
	return verdictOf(c.g.decideTraced(c.stepContext(ctx, inlineStep), &c.ex, body))
}

// Settle gives the key's token limit what the request used, from the
// replica's usage trailer (xds.TrailerUsage).
func (c *Call) Settle(usage string) {
	used, err := strconv.Atoi(usage)
	if err != nil || used < 0 || c.ex.reserved == 0 || c.ex.key.TPM <= 0 {
		return
	}
	c.g.limits.settle(c.ex.key.Hash, c.ex.key.TPM, c.ex.reserved, used)
	c.ex.reserved = 0
}

// stepContext is ctx (which ends when the request does) carrying the
// call's trace, marked inline when the step runs on Envoy's thread.
func (c *Call) stepContext(ctx context.Context, inlineStep bool) context.Context {
	ctx = trace.ContextWithSpanContext(ctx, c.parent)
	if inlineStep {
		ctx = inlineContext(ctx)
	}
	return ctx
}

// InternalError is the answer to a request whose decision failed in a way
// the gateway did not foresee (a panic the caller recovered).
func InternalError() Verdict {
	return verdictOf(immediate(internal("The gateway failed to decide on this request.")))
}

// verdictOf reads an ext_proc answer as a Verdict.
func verdictOf(r *extproc.ProcessingResponse) Verdict {
	if r == wouldBlock {
		return Verdict{Blocked: true}
	}
	if ir := r.GetImmediateResponse(); ir != nil {
		return Verdict{Status: int(ir.GetStatus().GetCode()), Body: ir.GetBody(), Details: ir.GetDetails(),
			Headers: pairs(ir.GetHeaders().GetSetHeaders())}
	}
	cr := r.GetRequestHeaders().GetResponse()
	if cr == nil {
		cr = r.GetRequestBody().GetResponse()
	}
	m := cr.GetHeaderMutation()
	return Verdict{Headers: pairs(m.GetSetHeaders()), Remove: m.GetRemoveHeaders(), ClearRoute: cr.GetClearRouteCache()}
}

func pairs(hs []*core.HeaderValueOption) [][2]string {
	out := make([][2]string, 0, len(hs))
	for _, h := range hs {
		v := h.GetHeader().GetValue()
		if v == "" {
			v = string(h.GetHeader().GetRawValue())
		}
		out = append(out, [2]string{h.GetHeader().GetKey(), v})
	}
	return out
}
