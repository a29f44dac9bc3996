// Package control is the control process: the deployment controllers, the
// provider running their replicas (local processes or Kubernetes pods), and
// the management API, with
// /healthz, /readyz and /metrics beside it.
package control

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/api"
	"github.com/graft-ai/graft/deploy/console"
	"github.com/graft-ai/graft/deploy/state"
	ftapi "github.com/graft-ai/graft/finetune/api"
)

// Config describes a control process. Zero values take the defaults of the
// packages they are passed to.
type Config struct {
	// Redis is the redis:// URL of the platform's state (required).
	Redis string
	// Listen is the management API's address; port 0 picks one.
	Listen string
	// APIKey, when set, is required on every API call.
	APIKey string
	// Exe and Env are the graft binary replicas run and what is added to
	// their environment; see local.Config.
	Exe string
	Env []string
	// AdapterCache is the adapter cache folder the replicas share.
	AdapterCache string
	// ReadyTimeout, Unhealthy, HeartbeatTTL and Drain are the replicas'; see
	// local.Config.
	ReadyTimeout, Unhealthy, HeartbeatTTL, Drain time.Duration
	// Tick is how often each controller reconciles unprompted.
	Tick time.Duration
	// Provider runs the replicas: ProviderLocal (the default) or
	// ProviderKubernetes, configured by Kubernetes.
	Provider   string
	Kubernetes Kubernetes
	// FineTune is the folder of the files and fine-tuning API: uploaded
	// files, each job's work folder and the adapters jobs publish (which
	// local replicas serve); "" leaves the API off.
	FineTune string
	// FineTuneSlots is how many jobs train at once here; default 1.
	FineTuneSlots int
	// JaegerURL is Jaeger's query API the console draws traces from; empty
	// hides them.
	JaegerURL string
}

// ConfigError is a Config field that cannot work.
type ConfigError struct {
	Field string
	Err   error
}

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Control is a running control process.
type Control struct {
	Manager  *deploy.Manager
	Provider deploy.Provider
	replicas replicas
	addr     string
	store    *state.Store
	hs       *http.Server
	done     chan struct{}
	err      error
	stop     context.CancelFunc
	reg      *prometheus.Registry
	// Console is the web console under /console.
	Console *console.Console
}

// Start starts the controllers and serves the API until ctx ends; Wait
// returns once everything, the replicas included, has stopped.
func Start(ctx context.Context, cfg Config) (*Control, error) {
	if cfg.Redis == "" {
		return nil, &ConfigError{Field: "Redis", Err: errors.New("control: a Redis URL is required")}
	}
	st, err := state.Open(cfg.Redis)
	if err != nil {
		return nil, &ConfigError{Field: "Redis", Err: err}
	}
	prov, err := newProvider(ctx, cfg, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := deploy.NewManager(deploy.ManagerConfig{Store: st, Provider: prov, Tick: cfg.Tick, Registerer: reg})
	if err != nil {
		prov.Close()
		st.Close()
		return nil, err
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		prov.Close()
		st.Close()
		return nil, &ConfigError{Field: "Listen", Err: err}
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", api.Handler(api.Config{Manager: m, APIKey: cfg.APIKey}))
	var ft *fineTuning
	if cfg.FineTune != "" {
		if ft, err = newFineTuning(cfg, st, m); err != nil {
			lis.Close()
			prov.Close()
			st.Close()
			return nil, err
		}
		ftapi.Routes(mux, ft.api)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := st.Ping(ctx); err != nil {
			http.Error(w, "redis: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	// The console checks the key itself (the API's own or an admin key in
	// Redis) before it passes a call to the API.
	ccfg := console.Config{Deployments: m, Store: st, APIKey: cfg.APIKey,
		API: api.Handler(api.Config{Manager: m}), JaegerURL: cfg.JaegerURL}
	if ft != nil {
		ccfg.FineTuning = consoleJobs{ft.svc}
	}
	con := console.New(mctx, ccfg)
	mux.Handle("/console", con)
	mux.Handle("/console/", con)
	c := &Control{Console: con, Manager: m, Provider: prov, replicas: prov, addr: lis.Addr().String(), store: st, done: make(chan struct{}), reg: reg,
		hs: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	c.stop = stop
	managerDone := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		if ft != nil {
			wg.Go(func() { ft.runner.Run(mctx) })
		}
		m.Run(mctx)
		wg.Wait()
		close(managerDone)
	}()
	serveErr := make(chan error, 1)
	go func() { serveErr <- c.hs.Serve(lis) }()
	slog.Info("control process serving the management API", "listen", c.addr, "console", c.ConsoleURL())
	go func() {
		var err error
		select {
		case <-ctx.Done():
		case err = <-serveErr:
		}
		c.shutdown(managerDone, err)
	}()
	return c, nil
}

// shutdown stops the API, the controllers, then the replicas (they drain).
func (c *Control) shutdown(managerDone chan struct{}, err error) {
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.hs.Shutdown(sctx)
	c.stop()
	<-managerDone
	c.replicas.Close()
	c.store.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	c.err = err
	close(c.done)
}

// ConsoleURL is the web console's address.
func (c *Control) ConsoleURL() string { return "http://" + c.addr + "/console/" }

// Addr is where the API listens.
func (c *Control) Addr() string { return c.addr }

// Registry is what /metrics serves: parts run in the same process (the
// gateway and its xDS server under graft up) register there to be scraped
// with the controllers.
func (c *Control) Registry() prometheus.Registerer { return c.reg }

// Wait returns once the control process has stopped.
func (c *Control) Wait() error {
	<-c.done
	return c.err
}

// Run is Start then Wait.
func Run(ctx context.Context, cfg Config) error {
	c, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	return c.Wait()
}
