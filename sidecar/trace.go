package sidecar

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/graft-ai/graft/internal/tracing"
)

// traced gives every HTTP request a server span continued from the
// traceparent Envoy (or a client) sent; nil tp leaves h as it is.
func traced(tp trace.TracerProvider, h http.Handler) http.Handler {
	if tp == nil {
		return h
	}
	return otelhttp.NewHandler(h, "graft-sidecar",
		otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(tracing.Propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }),
		// Health checks come every second from every Envoy: not requests.
		otelhttp.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/readyz" && r.URL.Path != "/healthz" }))
}

// tracedDial makes the engine calls client spans that pass the trace on.
func tracedDial(tp trace.TracerProvider) []grpc.DialOption {
	if tp == nil {
		return nil
	}
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(
		otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(tracing.Propagator)))}
}
