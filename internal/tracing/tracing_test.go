package tracing

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestNoCollectorMeansNoProvider(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	tp, stop, err := Start(context.Background(), Config{Service: "x"})
	if err != nil || tp != nil {
		t.Fatalf("no collector gave %v, %v", tp, err)
	}
	if err := stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	if !(Config{}).Enabled() {
		t.Fatal("the standard variable did not enable tracing")
	}
}

// TestTracesStartOnlyAtServerSpans: a background client call starts no
// trace, a request does, and its client calls follow it.
func TestTracesStartOnlyAtServerSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec),
		sdktrace.WithSampler(sdktrace.ParentBased(entrySampler{sdktrace.AlwaysSample()})))
	tr := tp.Tracer("t")
	_, bg := tr.Start(context.Background(), "poll", trace.WithSpanKind(trace.SpanKindClient))
	bg.End()
	ctx, req := tr.Start(context.Background(), "request", trace.WithSpanKind(trace.SpanKindServer))
	_, call := tr.Start(ctx, "call", trace.WithSpanKind(trace.SpanKindClient))
	call.End()
	req.End()
	var names []string
	for _, s := range rec.Ended() {
		names = append(names, s.Name())
	}
	if len(names) != 2 || names[0] != "call" || names[1] != "request" {
		t.Fatalf("recorded %v, want [call request]", names)
	}
	if bg.SpanContext().IsSampled() {
		t.Fatal("a background client call was sampled")
	}
}
