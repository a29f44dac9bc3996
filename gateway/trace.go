package gateway

import (
	"context"

	extproc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/graft-ai/graft/internal/tracing"
)

// tracedServer gives each ext_proc stream a server span continued from the
// traceparent Envoy puts in the call's metadata; nil tp adds nothing.
func tracedServer(tp trace.TracerProvider) []grpc.ServerOption {
	if tp == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(tracing.Propagator)))}
}

// traceContext continues the request's own traceparent when the ext_proc
// call carried no trace (an Envoy without a tracer, say), so a client's
// trace still reaches the gateway's spans.
//
// The gateway leaves the upstream traceparent to Envoy: its router writes
// its own span's context there after ext_proc, over any header the gateway
// would set, so the replica's span is a child of Envoy's.
func traceContext(ctx context.Context, h *extproc.HttpHeaders) context.Context {
	if trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	carrier := propagation.MapCarrier{}
	for _, hv := range h.GetHeaders().GetHeaders() {
		if k := hv.GetKey(); k == "traceparent" || k == "tracestate" {
			v := hv.GetValue()
			if v == "" {
				v = string(hv.GetRawValue())
			}
			carrier[k] = v
		}
	}
	if len(carrier) == 0 {
		return ctx
	}
	return tracing.Propagator.Extract(ctx, carrier)
}
