// Package tracing sets up OpenTelemetry tracing for one Graft service: spans
// exported over OTLP/gRPC, sampled parent-based with a ratio for new traces,
// W3C trace context on the wire. Without a collector it hands out a no-op
// provider, so instrumented code costs next to nothing.
package tracing

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Config names the collector and the sampling.
type Config struct {
	// Endpoint is the OTLP/gRPC collector: host:port (plaintext) or a URL
	// (http:// plaintext, https:// TLS). Empty falls back to the standard
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT; with
	// neither set nothing is exported.
	Endpoint string
	// Ratio is the fraction of new traces sampled; a request that arrives
	// with a sampled parent is always traced. 0 means 1.
	Ratio float64
	// Service is the service.name spans carry, e.g. "graft-gateway".
	Service string
}

// Propagator is the W3C trace context every Graft hop reads and writes.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Start returns the service's tracer provider and the function that flushes
// and stops it. Without a collector the provider is nil, which every Graft
// component takes as "trace nothing" and skips its instrumentation.
func Start(ctx context.Context, c Config) (trace.TracerProvider, func(context.Context) error, error) {
	if !c.Enabled() {
		return nil, func(context.Context) error { return nil }, nil
	}
	var opts []otlptracegrpc.Option
	switch {
	case strings.Contains(c.Endpoint, "://"):
		opts = append(opts, otlptracegrpc.WithEndpointURL(c.Endpoint))
	case c.Endpoint != "":
		opts = append(opts, otlptracegrpc.WithEndpoint(c.Endpoint), otlptracegrpc.WithInsecure())
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: %w", err)
	}
	ratio := c.Ratio
	if ratio <= 0 {
		ratio = 1
	}
	res := resource.NewSchemaless(semconv.ServiceName(c.Service))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(entrySampler{sdktrace.TraceIDRatioBased(ratio)})),
	)
	return tp, tp.Shutdown, nil
}

// Enabled says whether Start would export anything.
func (c Config) Enabled() bool {
	return c.Endpoint != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" ||
		os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != ""
}

// Or is tp, or the no-op provider when tp is nil: components take an optional
// provider in their config.
func Or(tp trace.TracerProvider) trace.TracerProvider {
	if tp == nil {
		return noop.NewTracerProvider()
	}
	return tp
}

// entrySampler starts traces only at a service's entrance (a server span):
// a component's own background calls (the sidecar polling the engine's
// stats) are not requests and start none. Child spans follow their parent.
type entrySampler struct{ ratio sdktrace.Sampler }

func (s entrySampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	if p.Kind != trace.SpanKindServer {
		return sdktrace.SamplingResult{Decision: sdktrace.Drop,
			Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState()}
	}
	return s.ratio.ShouldSample(p)
}

func (s entrySampler) Description() string { return "EntrySampler{" + s.ratio.Description() + "}" }
