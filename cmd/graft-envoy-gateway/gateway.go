//go:build cgo

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/gateway"
	"github.com/graft-ai/graft/internal/tracing"
)

// loaded is one gateway configuration Envoy uses. Envoy makes a filter
// configuration for every listener update, mostly with the same JSON: they
// share one gateway (its caches, rates and Redis connections).
type loaded struct {
	key   string
	refs  int
	g     *gateway.Gateway
	ratio float64 // the share of requests Envoy traces; 0 or 1: all
	stop  func()
}

// sampled guesses whether Envoy keeps the request's span: always when it
// traces every request; otherwise when the client's traceparent asked for
// it, which Envoy follows. Unknown counts as not: a gateway span whose
// parent Envoy dropped would float alone in the trace store.
func (l *loaded) sampled(traceparent string) bool {
	if l.ratio <= 0 || l.ratio >= 1 {
		return true
	}
	if len(traceparent) != 55 {
		return false
	}
	flags, err := strconv.ParseUint(traceparent[53:], 16, 8)
	return err == nil && flags&1 == 1
}

var (
	loadedMu sync.Mutex
	byConfig = map[string]*loaded{}
)

// acquire returns the gateway for config, starting it on first use.
func acquire(config []byte) (*loaded, error) {
	loadedMu.Lock()
	defer loadedMu.Unlock()
	if l := byConfig[string(config)]; l != nil {
		l.refs++
		return l, nil
	}
	l, err := start(config)
	if err != nil {
		return nil, err
	}
	byConfig[l.key] = l
	return l, nil
}

func (l *loaded) release() {
	loadedMu.Lock()
	defer loadedMu.Unlock()
	if l.refs--; l.refs == 0 {
		delete(byConfig, l.key)
		l.stop()
	}
}

func start(config []byte) (*loaded, error) {
	var mc gateway.ModuleConfig
	if err := json.Unmarshal(config, &mc); err != nil {
		return nil, fmt.Errorf("graft gateway module: configuration: %w", err)
	}
	c, err := mc.GatewayConfig()
	if err != nil {
		return nil, err
	}
	store, err := state.Open(mc.Redis)
	if err != nil {
		return nil, fmt.Errorf("graft gateway module: redis: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stops := []func(){cancel, func() { store.Close() }}
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	records := deploy.Records{Store: store}
	reg := prometheus.NewRegistry()
	c.Store, c.Deployments, c.Registry = store, gateway.FromRecords(records, records), reg
	if mc.OTLP != "" {
		tp, shutdown, err := tracing.Start(ctx, tracing.Config{Endpoint: mc.OTLP, Ratio: mc.TraceRatio, Service: "graft-gateway"})
		if err != nil {
			slog.Warn("graft gateway module: tracing off", "err", err)
		} else {
			c.Tracer = tp
			stops = append(stops, func() {
				sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer scancel()
				_ = shutdown(sctx)
			})
		}
	}
	g, err := gateway.New(c)
	if err != nil {
		stop()
		return nil, err
	}
	if mc.MetricsListen != "" {
		srv := &http.Server{Addr: mc.MetricsListen, Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
				slog.Error("graft gateway module: metrics", "err", err)
			}
		}()
		stops = append(stops, func() { srv.Close() })
	}
	g.Follow(ctx)
	slog.Info("graft gateway module: loaded into Envoy", "redis", mc.Redis)
	return &loaded{key: string(config), refs: 1, g: g, ratio: mc.TraceRatio, stop: stop}, nil
}
