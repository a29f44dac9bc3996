package server

import (
	"context"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/internal/tracing"
)

// tracingOption gives the gRPC server a server span per call, continued from
// the caller's traceparent; nil tp adds nothing.
func tracingOption(tp trace.TracerProvider) []grpc.ServerOption {
	if tp == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(tracing.Propagator)))}
}

// genTrace follows one Generate call and, when the call's span is sampled,
// records its phases as child spans once it ends: queue wait (received to
// admitted into a batch), prefill (admitted to the first token) and decode
// (first token to the last). The engine loop is never asked to trace; the
// times come with its events. Prompt text is never recorded.
type genTrace struct {
	ctx      context.Context
	on       bool
	received time.Time
	admitted time.Time
	first    time.Time
	adapter  string
	prompt   int
	cached   int
	tokens   int
	batch    int
}

func startGenTrace(ctx context.Context, r engine.Request) *genTrace {
	return &genTrace{ctx: ctx, on: trace.SpanFromContext(ctx).SpanContext().IsSampled(),
		received: time.Now(), adapter: r.Adapter}
}

func (g *genTrace) observe(ev engine.Event) {
	if !g.on {
		return
	}
	if g.admitted.IsZero() && !ev.Admitted.IsZero() {
		g.admitted = ev.Admitted
	}
	if g.first.IsZero() && len(ev.Tokens) > 0 {
		g.first = time.Now()
	}
	g.batch = max(g.batch, ev.BatchSize)
	if ev.Finish != "" {
		g.tokens += ev.CompletionTokens
		g.prompt, g.cached = ev.PromptTokens, max(g.cached, ev.CachedTokens)
	}
}

func (g *genTrace) end(err error) {
	if !g.on {
		return
	}
	now := time.Now()
	tr := trace.SpanFromContext(g.ctx).TracerProvider().Tracer("github.com/graft-ai/graft/engine/server")
	adapter := attribute.String("graft.adapter_id", g.adapter)
	span := func(name string, from, to time.Time, attrs ...attribute.KeyValue) {
		if from.IsZero() || to.Before(from) {
			return
		}
		_, s := tr.Start(g.ctx, name, trace.WithTimestamp(from), trace.WithAttributes(append(attrs, adapter)...))
		if err != nil && name == "engine.decode" {
			s.SetStatus(codes.Error, err.Error())
		}
		s.End(trace.WithTimestamp(to))
	}
	span("engine.queue", g.received, g.admitted)
	span("engine.prefill", g.admitted, g.first,
		attribute.Int("gen_ai.usage.input_tokens", g.prompt), attribute.Int("graft.cached_tokens", g.cached))
	span("engine.decode", g.first, now,
		attribute.Int("gen_ai.usage.output_tokens", g.tokens), attribute.Int("graft.batch_size", g.batch))
}
