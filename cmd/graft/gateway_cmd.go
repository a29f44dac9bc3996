package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/kubeprovider"
	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/gateway"
	"github.com/graft-ai/graft/xds"
)

func init() {
	register(newGatewayCommand)
	register(newXDSCommand)
}

func newGatewayCommand() *cobra.Command {
	var redisURL, metricsListen string
	c := gateway.Config{}
	var to traceOptions
	cmd := &cobra.Command{
		Use:   "gateway --redis URL [--listen HOST:PORT]",
		Short: "Run the gateway: Envoy's ext_proc service (API keys, model routing, wake, rate limits)",
		Long: `Serve Envoy's external processing gRPC service. For each request Envoy sends
the headers and the buffered body; the gateway checks the API key, resolves
"model" (deployment or deployment/adapter), holds requests for a deployment
that scaled to zero while it wakes, and answers with the headers Envoy routes
and hashes on. Deployments, keys and adapter rates are read from Redis, so any
number of gateways may run side by side. graft xds programs Envoy to call it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, err := state.Open(redisURL)
			if err != nil {
				return exitError{code: 2, err: fmt.Errorf("--redis: %w", err)}
			}
			defer store.Close()
			records := deploy.Records{Store: store}
			reg := prometheus.NewRegistry()
			c.Store, c.Deployments, c.Registry = store, gateway.FromRecords(records, records), reg
			var stop func()
			c.Tracer, stop = to.start(cmd.Context(), "graft-gateway")
			defer stop()
			g, err := gateway.New(c)
			if err != nil {
				return err
			}
			if err := serveMetrics(cmd.Context(), metricsListen, reg); err != nil {
				return err
			}
			return g.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&redisURL, "redis", "redis://127.0.0.1:6379/0", "Redis URL of the platform's state")
	f.StringVar(&c.Listen, "listen", "127.0.0.1:9001", "address of the ext_proc gRPC service")
	f.DurationVar(&c.WakeTimeout, "wake-timeout", 90*time.Second, "longest a request waits for its deployment to wake")
	f.IntVar(&c.HoldLimit, "hold-limit", 256, "requests held per waking deployment before 503")
	f.Float64Var(&c.HotRate, "hot-rate", 8, "requests/s of one adapter one replica takes before the adapter spreads")
	f.IntVar(&c.MaxSpread, "max-spread", 8, "most replicas one hot adapter spreads over")
	f.StringVar(&c.AnonymousTenant, "anonymous-tenant", "", "admit requests without a key as this tenant (default: a key is required)")
	f.StringVar(&metricsListen, "metrics-listen", "127.0.0.1:9091", "address of /metrics and /healthz (\"\" for none)")
	addTraceFlags(cmd, &to)
	return cmd
}

func newXDSCommand() *cobra.Command {
	var redisURL, listen, bootstrapOut, envoyAdmin, metricsListen string
	var lc xds.Listener
	var gw, module, moduleMetrics, control, podsNS, kubeconfig string
	var to traceOptions
	cmd := &cobra.Command{
		Use:   "xds --redis URL --https-listen HOST:PORT --cert FILE --key FILE --gateway HOST:PORT",
		Short: "Run the xDS control plane that programs Envoy from the platform's state",
		Long: `Serve Envoy's aggregated discovery service (ADS): an HTTPS listener with the
gateway as ext_proc, one bounded-load ring-hash cluster per deployment whose
endpoints are its ready replicas, hashed on the gateway's route key. The
configuration follows Redis: replica changes at once, deployments within
--resync. Every snapshot is checked (each resource's ValidateAll, and
consistency) before Envoy gets it. --bootstrap FILE writes the Envoy bootstrap
that points at this server (run envoy -c FILE).

With --kubernetes-namespace (replicas run as pods: graft control --provider
kubernetes) a replica is an endpoint only while its pod is Ready, at the pod's
IP: its heartbeat says how busy it is, the pod whether it may take traffic.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, err := state.Open(redisURL)
			if err != nil {
				return exitError{code: 2, err: fmt.Errorf("--redis: %w", err)}
			}
			defer store.Close()
			srv, err := xds.NewServer(listen)
			if err != nil {
				return err
			}
			reg := prometheus.NewRegistry()
			if err := srv.Register(reg); err != nil {
				return err
			}
			if err := serveMetrics(cmd.Context(), metricsListen, reg); err != nil {
				return err
			}
			if bootstrapOut != "" {
				b, err := xds.Bootstrap(xds.BootstrapConfig{NodeID: "envoy", XDSAddr: srv.Addr(), AdminAddr: envoyAdmin})
				if err != nil {
					return err
				}
				if err := os.WriteFile(bootstrapOut, b, 0o644); err != nil {
					return err
				}
			}
			xc := xds.Config{Store: store, Server: srv, Listener: lc, Gateway: gw, ControlAPI: control,
				OTLP: to.collector(), TraceRatio: to.ratio}
			if module != "" {
				if xc.GatewayModule, err = moduleGateway(module, redisURL, moduleMetrics, to); err != nil {
					return exitError{code: 2, err: err}
				}
				xc.Gateway = ""
			}
			if podsNS != "" {
				eps, err := watchPods(cmd.Context(), kubeconfig, podsNS)
				if err != nil {
					return err
				}
				defer eps.Close()
				xc.Pods = eps
			}
			go xds.Run(cmd.Context(), xc)
			return srv.Serve(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&redisURL, "redis", "redis://127.0.0.1:6379/0", "Redis URL of the platform's state")
	f.StringVar(&listen, "listen", "127.0.0.1:18000", "address of the ADS gRPC service")
	f.StringVar(&lc.Addr, "https-listen", "0.0.0.0:8443", "address of Envoy's HTTPS listener")
	f.StringVar(&lc.CertFile, "cert", "", "PEM certificate chain Envoy serves (required)")
	f.StringVar(&lc.KeyFile, "key", "", "PEM private key of --cert (required)")
	f.StringVar(&gw, "gateway", "127.0.0.1:9001", "the gateway's ext_proc address")
	f.StringVar(&module, "gateway-module", "", "instead of --gateway, have Envoy load the gateway as this dynamic module (a path on Envoy's machine); it reads --redis")
	f.StringVar(&moduleMetrics, "gateway-module-metrics", "", "where the gateway module serves /metrics, in Envoy's process (\"\" for nowhere)")
	f.StringVar(&control, "control-api", "", "the management API's address, served to admin keys under /v1/deployments")
	f.DurationVar(&lc.GatewayTimeout, "gateway-timeout", 100*time.Second, "Envoy's limit on one gateway exchange (above the gateway's --wake-timeout)")
	f.StringVar(&bootstrapOut, "bootstrap", "", "write the Envoy bootstrap for this server to FILE")
	f.StringVar(&envoyAdmin, "envoy-admin", "127.0.0.1:9901", "Envoy's admin address, in the bootstrap")
	f.StringVar(&metricsListen, "metrics-listen", "127.0.0.1:9092", "address of /metrics and /healthz (\"\" for none)")
	f.StringVar(&podsNS, "kubernetes-namespace", "", "replicas are pods in this namespace: route only to Ready pods, at their IPs (default: the heartbeats' addresses)")
	f.StringVar(&kubeconfig, "kubeconfig", "", "with --kubernetes-namespace: a kubeconfig file (default: $KUBECONFIG, else the in-cluster service account)")
	addTraceFlags(cmd, &to)
	_ = cmd.MarkFlagRequired("cert")
	_ = cmd.MarkFlagRequired("key")
	return cmd
}

// serveMetrics serves reg's /metrics and a /healthz on addr until ctx ends;
// "" serves nothing. A port that cannot be bound is a usage error.
func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry) error {
	if addr == "" {
		return nil
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return exitError{code: 2, err: fmt.Errorf("--metrics-listen: %w", err)}
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("metrics server", "err", err)
		}
	}()
	go func() { <-ctx.Done(); hs.Close() }()
	return nil
}

// watchPods follows the replicas' pods for xds; an API server that cannot be
// reached fails the start rather than serving endpoints it cannot check.
func watchPods(ctx context.Context, kubeconfig, namespace string) (*kubeprovider.Endpoints, error) {
	if kubeconfig == "" {
		kubeconfig = os.Getenv("KUBECONFIG")
	}
	client, err := kubeprovider.NewClient(kubeconfig)
	if err != nil {
		return nil, exitError{code: 2, err: fmt.Errorf("--kubeconfig: %w", err)}
	}
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return kubeprovider.WatchEndpoints(lctx, client, namespace)
}

// moduleGateway configures the gateway module with the platform's state,
// its metrics address and the control plane's trace settings, the
// gateway's other settings at their defaults.
func moduleGateway(file, redisURL, metrics string, to traceOptions) (*xds.GatewayModule, error) {
	if !filepath.IsAbs(file) {
		return nil, fmt.Errorf("--gateway-module %q: give the path Envoy loads it from, absolute", file)
	}
	return gateway.ModuleConfig{Redis: redisURL, MetricsListen: metrics, OTLP: to.collector(), TraceRatio: to.ratio}.Filter(file)
}
