package main

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/trace"

	"github.com/graft-ai/graft/internal/flagenv"
	"github.com/graft-ai/graft/internal/tracing"
)

// traceOptions are the tracing flags every serving command shares.
type traceOptions struct {
	endpoint string
	ratio    float64
}

func addTraceFlags(cmd *cobra.Command, o *traceOptions) {
	f := cmd.Flags()
	f.StringVar(&o.endpoint, "otlp-endpoint", "", "OTLP/gRPC trace collector, HOST:PORT or a URL (default: $OTEL_EXPORTER_OTLP_ENDPOINT; neither: no tracing)")
	f.Float64Var(&o.ratio, "trace-ratio", 1, "fraction of new requests traced (a request with a sampled traceparent always is)")
}

// start begins exporting service's spans; the provider is nil when tracing is
// off. stop flushes what is buffered.
func (o traceOptions) start(ctx context.Context, service string) (trace.TracerProvider, func()) {
	tp, shutdown, err := tracing.Start(ctx, tracing.Config{Endpoint: o.endpoint, Ratio: o.ratio, Service: service})
	if err != nil {
		slog.Warn("tracing off", "err", err)
		return nil, func() {}
	}
	return tp, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdown(sctx)
	}
}

// collector is the HOST:PORT Envoy sends its spans to: the flag, else the
// standard variable, without a URL's scheme ("" when tracing is off).
func (o traceOptions) collector() string {
	e := o.endpoint
	if e == "" {
		e = os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	}
	if e == "" {
		e = os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if _, rest, ok := strings.Cut(e, "://"); ok {
		e, _, _ = strings.Cut(rest, "/")
	}
	return e
}

// replicaEnv is what graft serve children need to trace as this process
// does: the collector (the standard variable) and the sampling ratio (their
// --trace-ratio flag's variable). Without --otlp-endpoint they inherit the
// standard variables, if any.
func (o traceOptions) replicaEnv() []string {
	env := []string{flagenv.Name("trace-ratio") + "=" + strconv.FormatFloat(o.ratio, 'g', -1, 64)}
	if e := o.endpoint; e != "" {
		if !strings.Contains(e, "://") {
			e = "http://" + e
		}
		env = append(env, "OTEL_EXPORTER_OTLP_ENDPOINT="+e)
	}
	return env
}
