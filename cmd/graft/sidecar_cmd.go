package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/graft-ai/graft/sidecar/openai"
)

func init() { register(newSidecarCommand) }

type sidecarOptions struct {
	engine, listen, servedName string
	adapterCache, adapterRoot  string
	redis                      string
	drain                      time.Duration
}

func newSidecarCommand() *cobra.Command {
	var o sidecarOptions
	cmd := &cobra.Command{
		Use:   "sidecar --engine ADDR --listen HOST:PORT",
		Short: "Serve a pod's OpenAI-compatible API in front of a graft engine",
		Long: `Serve POST /v1/chat/completions, POST /v1/completions and GET /v1/models,
plus /healthz, /readyz (the engine answers gRPC health and has its model) and
Prometheus /metrics with vLLM's metric names, talking to the engine at ADDR
(unix:///path.sock or HOST:PORT) over gRPC.

"model" in a request is the base model's id (the engine's, or
--served-model-name) or an adapter id: adapters are folders of --adapter-root,
named by folder, loaded into the engine on first use. On SIGTERM the listener
closes and running streams get --drain-timeout to finish.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.redis != "" {
				slog.Warn("--redis is accepted but residency publishing is not wired into this build yet")
			}
			conn, err := grpc.NewClient(dialTarget(o.engine), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				return usageError("--engine %s: %v", o.engine, err)
			}
			defer conn.Close()
			return runSidecar(cmd.Context(), conn, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.engine, "engine", "unix:///tmp/graft-engine.sock", "engine gRPC address: unix:///path.sock or HOST:PORT")
	addSidecarFlags(cmd, &o)
	f.StringVar(&o.servedName, "served-model-name", "", "the base model's id in the API (default: the engine's model id)")
	return cmd
}

func addSidecarFlags(cmd *cobra.Command, o *sidecarOptions) {
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8000", "HTTP address of the OpenAI API")
	f.StringVar(&o.adapterRoot, "adapter-root", "", "folder of PEFT adapters, each addressed by its folder name")
	f.StringVar(&o.adapterCache, "adapter-cache", "", "disk cache for adapters fetched from remote sources (not used by this build yet)")
	f.StringVar(&o.redis, "redis", "", "Redis URL for heartbeat and adapter residency (not used by this build yet)")
	f.DurationVar(&o.drain, "drain-timeout", 30*time.Second, "on SIGTERM, how long running streams may take to finish")
}

// runSidecar serves the OpenAI API until ctx ends, then drains.
func runSidecar(ctx context.Context, conn grpc.ClientConnInterface, o *sidecarOptions) error {
	cfg := openai.Config{Engine: conn, ModelID: o.servedName}
	if o.adapterRoot != "" {
		cfg.Adapters = openai.LocalDir{Root: o.adapterRoot}
	}
	lis, err := net.Listen("tcp", o.listen)
	if err != nil {
		return usageError("--listen %s: %v", o.listen, err)
	}
	hs := &http.Server{Handler: openai.New(cfg), ReadHeaderTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(lis) }()
	slog.Info("sidecar serving", "listen", lis.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	dctx, cancel := context.WithTimeout(context.Background(), o.drain)
	defer cancel()
	err = hs.Shutdown(dctx)
	if errors.Is(err, context.DeadlineExceeded) {
		slog.Warn("drain deadline passed; closing running streams")
		err = hs.Close()
	}
	return err
}
