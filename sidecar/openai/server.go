// Package openai serves a pod's OpenAI-compatible HTTP API (chat completions,
// completions, models) in front of one Graft engine reached over gRPC, with
// health, readiness and vLLM-named Prometheus metrics.
package openai

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// Config wires a Server to its engine.
type Config struct {
	// Engine is a client connection to the engine's gRPC server.
	Engine grpc.ClientConnInterface
	// ModelID is the base model's served name; empty means the id the engine
	// reports in Stats.
	ModelID string
	// Adapters resolves adapter ids; nil serves the base model only.
	Adapters AdapterSource
	// OnAdapterLoaded, when set, is told each adapter the engine loads (the
	// replica's residency in Redis follows it).
	OnAdapterLoaded func(id string)
	// Deployment, when set, is the deployment this pod serves: through the
	// front door "deployment" names its base model and "deployment/adapter"
	// an adapter, as well as the bare ids the pod serves directly.
	Deployment string
	// MaxBodyBytes bounds a request body; larger ones get 413. Zero means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
}

// Server is the OpenAI API of one pod.
type Server struct {
	engine  enginev1.EngineClient
	health  healthpb.HealthClient
	adapter *adapterLoader
	metrics *metrics
	mux     *http.ServeMux
	maxBody int64

	deployment string
	draining   atomic.Bool

	mu      sync.Mutex
	modelID string
	created int64
}

// New builds the server; it does not contact the engine until a request needs it.
func New(cfg Config) *Server {
	ec := enginev1.NewEngineClient(cfg.Engine)
	s := &Server{
		engine: ec, health: healthpb.NewHealthClient(cfg.Engine), modelID: cfg.ModelID,
		adapter: &adapterLoader{source: cfg.Adapters, engine: ec, loaded: map[string]bool{}, onLoaded: cfg.OnAdapterLoaded},
		created: time.Now().Unix(), maxBody: cfg.MaxBodyBytes, deployment: cfg.Deployment,
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	s.metrics = newMetrics()
	s.mux = routes(map[string]http.Handler{
		"POST /v1/chat/completions": http.HandlerFunc(s.chat),
		"POST /v1/completions":      http.HandlerFunc(s.completions),
		"GET /v1/models":            http.HandlerFunc(s.models),
		"GET /healthz":              http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }),
		"GET /readyz":               http.HandlerFunc(s.readyz),
		"GET /metrics":              promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}),
	})
	return s
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Registry is the server's Prometheus registry, for callers adding their own metrics.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.registry }

// baseModel returns the served base model id, asking the engine once if needed.
func (s *Server) baseModel(ctx context.Context) (string, error) {
	s.mu.Lock()
	id := s.modelID
	s.mu.Unlock()
	if id != "" {
		return id, nil
	}
	st, err := s.engine.Stats(ctx, &enginev1.StatsRequest{})
	if err != nil {
		return "", err
	}
	if st.ModelId == "" {
		return "", errors.New("the engine reports no model id; set --served-model-name")
	}
	s.mu.Lock()
	s.modelID = st.ModelId
	s.mu.Unlock()
	return st.ModelId, nil
}

// resolve maps the request's model to an adapter id ("" for the base model),
// loading the adapter into the engine on its first use.
func (s *Server) resolve(ctx context.Context, model string) (string, *apiError) {
	if model == "" {
		return "", badRequest("model", "you must provide a model parameter")
	}
	base, err := s.baseModel(ctx)
	if err != nil {
		return "", fromRPC(err, nil)
	}
	if model == base || (s.deployment != "" && model == s.deployment) {
		return "", nil
	}
	if s.deployment != "" {
		if a, ok := strings.CutPrefix(model, s.deployment+"/"); ok {
			model = a
		}
	}
	if err := s.adapter.ensure(ctx, model); err != nil {
		return "", adapterError(model, err)
	}
	return model, nil
}

// Drain makes /readyz fail from now on: the replica still serves, but
// health checks take it out of routing.
func (s *Server) Drain() { s.draining.Store(true) }

// Draining reports whether Drain was called.
func (s *Server) Draining() bool { return s.draining.Load() }

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		http.Error(w, "not ready: draining", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	h, err := s.health.Check(ctx, &healthpb.HealthCheckRequest{Service: "graft.engine.v1.Engine"})
	if err == nil && h.Status != healthpb.HealthCheckResponse_SERVING {
		err = errors.New("engine health is " + h.Status.String())
	}
	if err == nil {
		_, err = s.baseModel(ctx)
	}
	if err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// newID returns prefix plus 24 random hex digits, like OpenAI's chatcmpl-/cmpl- ids.
func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// ModelName is the served base model's id, or "" while the engine has not been
// asked (callers then use the engine's own id).
func (s *Server) ModelName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.modelID
}
