package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	extproc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/internal/tracing"
)

// Config is everything the gateway needs.
type Config struct {
	Listen      string // host:port of the ext_proc gRPC service, or unix:PATH
	Store       *state.Store
	Deployments Deployments
	// WakeTimeout bounds how long a request waits for a deployment to wake;
	// keep it below Envoy's ext_proc message timeout.
	WakeTimeout time.Duration
	HoldLimit   int     // requests held per waking deployment before 503
	HotRate     float64 // requests/s of one adapter before it spreads to more replicas
	MaxSpread   int     // most replicas one adapter spreads over
	// AnonymousTenant, when set, admits requests without a key as this
	// tenant (for a laptop with no keys); empty requires a key.
	AnonymousTenant string
	Registry        prometheus.Registerer // nil: prometheus.DefaultRegisterer
	OnListen        func(addr string)
	// Tracer, when set, continues each request's trace (from Envoy's ext_proc
	// call) with the gateway's authenticate, decide and hold spans.
	Tracer trace.TracerProvider
}

func (c *Config) defaults() {
	if c.WakeTimeout == 0 {
		c.WakeTimeout = 90 * time.Second
	}
	if c.HoldLimit == 0 {
		c.HoldLimit = 256
	}
	if c.HotRate == 0 {
		c.HotRate = 8
	}
	if c.MaxSpread == 0 {
		c.MaxSpread = 8
	}
	if c.Registry == nil {
		c.Registry = prometheus.DefaultRegisterer
	}
}

// Gateway is the ext_proc service.
type Gateway struct {
	extproc.UnimplementedExternalProcessorServer
	cfg         Config
	keys        *Keys
	deployments *cachedDeployments
	limits      *limiter
	spread      *Spreader
	metrics     *metrics
	tracer      trace.Tracer

	mu        sync.Mutex
	holdSlots map[string]chan struct{}
}

// New checks cfg and builds a Gateway; Run serves it.
func New(cfg Config) (*Gateway, error) {
	cfg.defaults()
	if cfg.Store == nil || cfg.Deployments == nil {
		return nil, errors.New("gateway: a state store and a deployments view are required")
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	return &Gateway{cfg: cfg, tracer: tracing.Or(cfg.Tracer).Tracer("github.com/graft-ai/graft/gateway"), keys: newKeys(cfg.Store), metrics: m, deployments: newCachedDeployments(cfg.Deployments),
		limits:    newLimiter(),
		spread:    newSpreader(cfg.Store, cfg.HotRate, cfg.MaxSpread, 5*time.Second),
		holdSlots: map[string]chan struct{}{}}, nil
}

// Spreader exposes the route-key choice (the routing simulator drives it).
func (g *Gateway) Spreader() *Spreader { return g.spread }

// Follow keeps the gateway's shared state current until ctx ends: the
// adapters' request rates (spreading) and the caches' invalidations. Run
// calls it; a gateway without an ext_proc service (Call) calls it itself.
func (g *Gateway) Follow(ctx context.Context) {
	go g.spread.run(ctx, 250*time.Millisecond)
	go g.watchChanges(ctx)
}

// Run serves ext_proc on cfg.Listen until ctx ends.
func (g *Gateway) Run(ctx context.Context) error {
	network, addr := "tcp", g.cfg.Listen
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", path
		os.Remove(path) // a socket left by a gateway that did not stop
	}
	lis, err := net.Listen(network, addr)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	listened := lis.Addr().String()
	if network == "unix" {
		listened = "unix:" + listened
	}
	srv := grpc.NewServer(append(tracedServer(g.cfg.Tracer), staticWindows...)...)
	extproc.RegisterExternalProcessorServer(srv, g)
	g.Follow(ctx)
	go func() {
		<-ctx.Done()
		srv.GracefulStop()
	}()
	slog.Info("gateway: serving ext_proc", "addr", listened)
	if g.cfg.OnListen != nil {
		g.cfg.OnListen(listened)
	}
	if err := srv.Serve(lis); err != nil && ctx.Err() == nil {
		return fmt.Errorf("gateway: %w", err)
	}
	return nil
}

// staticWindows fixes the ext_proc connection's flow-control windows, which
// turns off grpc-go's bandwidth-delay estimation. With it on, the first body
// message of each sparse stream made the gateway send a window update and a
// PING before its answer: Envoy woke to read them and answer the PING, and
// the gateway woke to read the ack, two more wake-ups per request on the
// request's path. A window holds the largest body Envoy passes on
// (maxStreamedBody), so no body waits for an update either.
var staticWindows = []grpc.ServerOption{
	grpc.InitialWindowSize(maxStreamedBody),
	grpc.InitialConnWindowSize(2 * maxStreamedBody),
}

type metrics struct {
	requests    *prometheus.CounterVec
	held        prometheus.Gauge
	holdSeconds prometheus.Histogram
	decide      prometheus.Histogram
	// By who asked for what: the outcome is "routed" or the status the
	// gateway answered itself (the replica's status is Envoy's to count).
	byDeployment *prometheus.CounterVec
	rateLimited  *prometheus.CounterVec
}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "graft_gateway_requests_total",
			Help: "Requests the gateway decided on, by outcome (routed or the HTTP status it answered)."}, []string{"outcome"}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{Name: "graft_gateway_held_requests",
			Help: "Requests waiting for their deployment to wake."}),
		holdSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "graft_gateway_hold_seconds",
			Help: "Time requests waited for their deployment to wake.", Buckets: prometheus.ExponentialBuckets(0.1, 2, 12)}),
		decide: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "graft_gateway_decision_seconds",
			Help: "Time to decide a request's route, waking excluded.", Buckets: prometheus.ExponentialBuckets(0.00005, 2, 14)}),
		byDeployment: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "graft_gateway_deployment_requests_total",
			Help: "Requests naming a deployment, by adapter, tenant and outcome (routed or the HTTP status the gateway answered)."},
			[]string{"deployment", "adapter", "tenant", "outcome"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "graft_gateway_rate_limited_total",
			Help: "Requests refused by the key's requests or tokens per minute limit."}, []string{"deployment", "tenant"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.held, m.holdSeconds, m.decide, m.byDeployment, m.rateLimited} {
		if err := r.Register(c); err != nil {
			return nil, fmt.Errorf("gateway: metrics: %w", err)
		}
	}
	return m, nil
}
