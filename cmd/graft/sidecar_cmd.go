package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
	"github.com/graft-ai/graft/sidecar/adaptersource"
	"github.com/graft-ai/graft/sidecar/openai"
)

func init() { register(newSidecarCommand) }

type sidecarOptions struct {
	engine, listen, servedName string
	adapterCache, adapterRoot  string
	redis                      string
	deployment, replica        string
	heartbeatTTL               time.Duration
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
named by folder; hf://org/name[@revision] from a Hugging Face Hub-compatible
endpoint ($HF_ENDPOINT, token in $HF_TOKEN); s3://bucket/prefix with the AWS
SDK's settings ($GRAFT_S3_ENDPOINT for an S3-compatible server). Fetched
adapters are verified and kept in --adapter-cache, and loaded into the engine on
first use. With --redis the replica's heartbeat and loaded adapters are
published for the control plane. On SIGTERM the listener closes and running
streams get --drain-timeout to finish.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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

func defaultReplicaID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

func addSidecarFlags(cmd *cobra.Command, o *sidecarOptions) {
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8000", "HTTP address of the OpenAI API")
	f.StringVar(&o.adapterRoot, "adapter-root", "", "folder of PEFT adapters, each addressed by its folder name")
	f.StringVar(&o.adapterCache, "adapter-cache", "", "disk cache for adapters fetched from hf:// and s3:// sources (default: the user cache dir)")
	f.StringVar(&o.redis, "redis", "", "Redis URL (redis://host:port/db) for the replica's heartbeat and adapter residency")
	f.StringVar(&o.deployment, "deployment", "default", "deployment this replica belongs to, in Redis keys")
	f.StringVar(&o.replica, "replica-id", defaultReplicaID(), "this replica's id, in Redis keys")
	f.DurationVar(&o.heartbeatTTL, "heartbeat-ttl", 15*time.Second, "Redis TTL of the heartbeat; refreshed every second, or every third of it if shorter")
	f.DurationVar(&o.drain, "drain-timeout", 30*time.Second, "on SIGTERM, how long running streams may take to finish")
}

// runSidecar serves the OpenAI API until ctx ends, then drains.
func runSidecar(ctx context.Context, conn grpc.ClientConnInterface, o *sidecarOptions) error {
	cfg := openai.Config{Engine: conn, ModelID: o.servedName}
	sources, err := adaptersource.OpenCatalog(ctx, o.adapterCache, o.adapterRoot)
	if err != nil {
		return usageError("%v", err)
	}
	cfg.Adapters = sources
	lis, err := net.Listen("tcp", o.listen)
	if err != nil {
		return usageError("--listen %s: %v", o.listen, err)
	}
	if o.redis != "" {
		rctx, stopRedis := context.WithCancel(context.Background())
		rep, wait, err := startReplica(rctx, o.redis, o.deployment, o.replica, lis.Addr().String(), o.heartbeatTTL, enginev1.NewEngineClient(conn))
		if err != nil {
			stopRedis()
			lis.Close()
			return err
		}
		// Residency outlives the drain: it deletes the replica's keys at the end.
		defer func() { stopRedis(); wait() }()
		cfg.OnAdapterLoaded = func(string) { rep.Refresh() }
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
