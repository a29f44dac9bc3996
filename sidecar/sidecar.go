// Package sidecar runs a pod's OpenAI-compatible HTTP API in front of a graft
// engine: it dials the engine over gRPC, resolves adapter ids through the
// adapter sources and their cache, optionally publishes the replica to Redis,
// and serves until its context ends, then drains.
package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
	"github.com/graft-ai/graft/sidecar/adaptersource"
	"github.com/graft-ai/graft/sidecar/openai"
	"github.com/graft-ai/graft/sidecar/replica"
)

// Config describes one sidecar. Zero durations take the defaults named.
type Config struct {
	// Engine is the engine's gRPC address: unix:///abs/path.sock,
	// unix:rel.sock or host:port. Ignored when Conn is set.
	Engine string
	// Conn is an open connection to the engine, for callers that dial it
	// themselves (Dial sets the message limits a full context needs). Run does
	// not close it.
	Conn grpc.ClientConnInterface
	// Listen is the HTTP address; port 0 picks one (see OnListen).
	Listen string
	// Listener, when set, is served on instead of listening on Listen: a
	// socket the caller opened, e.g. inherited from the process that chose
	// the port. Run closes it.
	Listener net.Listener
	// ServedName is the base model's id in the API; empty means the engine's.
	ServedName string
	// AdapterRoot is a folder of PEFT adapters addressed by folder name; empty
	// serves only remote (hf://, s3://) adapters.
	AdapterRoot string
	// TunedAdapterRoot holds the adapters fine-tuned for this deployment,
	// addressed as "ft/TENANT/NAME"; empty serves none.
	TunedAdapterRoot string
	// AdapterCache is where fetched adapters are kept; empty means
	// AdapterCacheDir's default.
	AdapterCache string
	// Redis is a redis:// URL; empty publishes nothing.
	Redis string
	// Deployment and ReplicaID name this replica in Redis; defaults "default"
	// and DefaultReplicaID().
	Deployment, ReplicaID string
	// HeartbeatTTL is the Redis TTL of the replica's keys; default 15s.
	HeartbeatTTL time.Duration
	// Drain is how long running requests may take once ctx ends; 0 closes
	// them at once.
	Drain time.Duration
	// DrainGrace is how long, of Drain, the replica keeps serving new
	// requests after it marks itself draining: a router that has not seen
	// the mark yet must not meet a closed socket. Default: a tenth of
	// Drain, at most a second.
	DrainGrace time.Duration
	// HTTP bounds slow and idle clients; see HTTPTimeouts.
	HTTP HTTPTimeouts
	// OnListen, when set, is called with the bound HTTP address once the
	// listener is open, before the first request is served.
	OnListen func(addr string)
	// Tracer, when set, traces each HTTP request (continued from its
	// traceparent) and the engine calls it makes; nil traces nothing.
	Tracer trace.TracerProvider
}

// ConfigError is a Config field whose value cannot work, as opposed to a
// failure at run time. A caller that takes the config from a person reports it
// as a usage error.
type ConfigError struct {
	Field string // the Config field, e.g. "Listen"
	Err   error
}

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// DefaultReplicaID is host-pid: unique on a machine, and readable in Redis.
func DefaultReplicaID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// AdapterCacheDir is the adapter cache dir Run uses for dir: dir itself, or
// graft/adapters in the user cache dir when dir is empty.
func AdapterCacheDir(dir string) string { return adaptersource.CacheDir(dir) }

func (c *Config) defaults() {
	if c.Deployment == "" {
		c.Deployment = "default"
	}
	if c.ReplicaID == "" {
		c.ReplicaID = DefaultReplicaID()
	}
	if c.HeartbeatTTL <= 0 {
		c.HeartbeatTTL = 15 * time.Second
	}
	c.AdapterCache = AdapterCacheDir(c.AdapterCache)
	c.HTTP.defaults()
}

// Run serves the OpenAI API until ctx ends, then drains: the listener closes,
// running requests get Drain to finish, and the replica's Redis keys are
// deleted last. A bad Config is a *ConfigError.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Listener != nil {
		defer cfg.Listener.Close() // also when Run fails before serving on it
	}
	cfg.defaults()
	conn := cfg.Conn
	if conn == nil {
		c, err := Dial(cfg.Engine, tracedDial(cfg.Tracer)...)
		if err != nil {
			return &ConfigError{Field: "Engine", Err: fmt.Errorf("engine %s: %w", cfg.Engine, err)}
		}
		defer c.Close()
		conn = c
	}
	api := openai.Config{Engine: conn, ModelID: cfg.ServedName, Deployment: cfg.Deployment}
	catalog, err := adaptersource.OpenCatalog(ctx, cfg.AdapterCache, cfg.AdapterRoot)
	if err != nil {
		return &ConfigError{Field: "AdapterRoot", Err: err}
	}
	if cfg.TunedAdapterRoot != "" {
		if err := catalog.AddTuned(cfg.TunedAdapterRoot); err != nil {
			return &ConfigError{Field: "TunedAdapterRoot", Err: err}
		}
	}
	api.Adapters = catalog
	lis := cfg.Listener
	if lis == nil {
		if lis, err = net.Listen("tcp", cfg.Listen); err != nil {
			return &ConfigError{Field: "Listen", Err: err}
		}
	}
	addr := lis.Addr().String()
	// The reporter is built before the API so the first adapter load already
	// refreshes it; it outlives the drain and deletes the replica's keys last.
	var rep *replica.Reporter
	api.OnAdapterLoaded = func(string) {
		if rep != nil {
			rep.Refresh()
		}
	}
	srv := openai.New(api)
	rep, stopRep, err := startReplica(&cfg, addr, enginev1.NewEngineClient(conn), srv)
	if err != nil {
		lis.Close()
		return err
	}
	defer stopRep()
	hs := cfg.HTTP.server(traced(cfg.Tracer, closing(srv.Draining, servedBy(cfg.ReplicaID, srv))))
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(lis) }()
	slog.Info("sidecar serving", "listen", addr)
	if cfg.OnListen != nil {
		cfg.OnListen(addr)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	rep.Drain() // routers stop sending new requests while the running ones finish
	srv.Drain()
	return drain(hs, cfg.drainGrace(), cfg.Drain)
}

func (c *Config) drainGrace() time.Duration {
	if c.DrainGrace > 0 {
		return min(c.DrainGrace, c.Drain)
	}
	return min(c.Drain/10, time.Second)
}

// drain keeps serving for grace (each response closing its connection),
// then stops accepting, lets running requests finish for the rest of d, and
// closes what is left.
func drain(hs *http.Server, grace, d time.Duration) error {
	time.Sleep(grace)
	dctx, cancel := context.WithTimeout(context.Background(), d-grace)
	defer cancel()
	err := hs.Shutdown(dctx)
	if errors.Is(err, context.DeadlineExceeded) {
		slog.Warn("drain deadline passed; closing running streams")
		err = hs.Close()
	}
	return err
}
