package main

import (
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/sidecar"
)

func init() { register(newSidecarCommand) }

// sidecarOptions are the flags of a sidecar process, shared by graft serve.
type sidecarOptions struct {
	engine, listen, servedName string
	listenFD                   int
	adapterCache, adapterRoot  string
	tunedRoot                  string
	redis                      string
	deployment, replica        string
	heartbeatTTL               time.Duration
	drain                      time.Duration
	http                       sidecar.HTTPTimeouts
}

func newSidecarCommand() *cobra.Command {
	var o sidecarOptions
	var to traceOptions
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
first use; the engine must be started with --adapter-dir for the adapter root
and the cache. With --redis the replica's heartbeat and loaded adapters are
published for the control plane. On SIGTERM the listener closes and running
streams get --drain-timeout to finish.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.config()
			if err != nil {
				return err
			}
			var stop func()
			c.Tracer, stop = to.start(cmd.Context(), "graft-sidecar")
			defer stop()
			return sidecar.Run(cmd.Context(), c)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.engine, "engine", "", "engine gRPC address: unix:///path.sock or HOST:PORT (required)")
	_ = cmd.MarkFlagRequired("engine")
	addSidecarFlags(cmd, &o)
	addTraceFlags(cmd, &to)
	f.StringVar(&o.servedName, "served-model-name", "", "the base model's id in the API (default: the engine's model id)")
	return cmd
}

func addSidecarFlags(cmd *cobra.Command, o *sidecarOptions) {
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8000", "HTTP address of the OpenAI API")
	f.IntVar(&o.listenFD, "listen-fd", 0, "serve on the listening socket inherited as this file descriptor instead of --listen (graft's local provider binds the port and hands it over, so no other process can take it in between)")
	f.StringVar(&o.adapterRoot, "adapter-root", "", "folder of PEFT adapters, each addressed by its folder name")
	f.StringVar(&o.tunedRoot, "tuned-adapter-root", "", "folder of the adapters fine-tuned for this deployment, addressed as ft/TENANT/NAME")
	f.StringVar(&o.adapterCache, "adapter-cache", "", "disk cache for adapters fetched from hf:// and s3:// sources (default: the user cache dir)")
	f.StringVar(&o.redis, "redis", "", "Redis URL (redis://host:port/db) for the replica's heartbeat and adapter residency")
	f.StringVar(&o.deployment, "deployment", "default", "deployment this replica belongs to, in Redis keys")
	f.StringVar(&o.replica, "replica-id", sidecar.DefaultReplicaID(), "this replica's id, in Redis keys")
	f.DurationVar(&o.heartbeatTTL, "heartbeat-ttl", 15*time.Second, "Redis TTL of the heartbeat; refreshed every second, or every third of it if shorter")
	f.DurationVar(&o.drain, "drain-timeout", 30*time.Second, "on SIGTERM, how long running streams may take to finish")
	f.DurationVar(&o.http.ReadHeader, "http-read-header-timeout", 10*time.Second, "longest a client may take to send a request's headers")
	f.DurationVar(&o.http.Read, "http-read-timeout", 60*time.Second, "longest a client may take to send a whole request, headers and body (responses, streamed or not, have no limit)")
	f.DurationVar(&o.http.Idle, "http-idle-timeout", 75*time.Second, "close a keep-alive connection idle this long")
}

// config maps the flags onto the sidecar library's config.
func (o *sidecarOptions) config() (sidecar.Config, error) {
	c := sidecar.Config{
		Engine: o.engine, Listen: o.listen, ServedName: o.servedName,
		AdapterRoot: o.adapterRoot, TunedAdapterRoot: o.tunedRoot, AdapterCache: o.adapterCache, Redis: o.redis,
		Deployment: o.deployment, ReplicaID: o.replica, HeartbeatTTL: o.heartbeatTTL,
		Drain: o.drain, HTTP: o.http,
	}
	if o.listenFD == 0 {
		return c, nil
	}
	if o.listenFD < 3 {
		return c, usageError("--listen-fd %d: want an inherited descriptor, 3 or above", o.listenFD)
	}
	lis, err := net.FileListener(os.NewFile(uintptr(o.listenFD), "listen-fd"))
	if err != nil {
		return c, usageError("--listen-fd %d is not a listening socket: %v", o.listenFD, err)
	}
	c.Listener = lis
	return c, nil
}
