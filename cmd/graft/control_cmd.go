package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/deploy/control"
)

func init() { register(newControlCommand) }

// controlOptions are the flags of the control process, shared by graft up.
type controlOptions struct {
	redis, listen, apiKey, adapterCache string
	readyTimeout, unhealthy, drain      time.Duration
}

func addControlFlags(cmd *cobra.Command, o *controlOptions, listen string) {
	f := cmd.Flags()
	f.StringVar(&o.listen, "api-listen", listen, "address of the management API (/v1/deployments)")
	f.StringVar(&o.apiKey, "api-key", "", "require this key (Authorization: Bearer KEY) on the management API")
	f.StringVar(&o.adapterCache, "adapter-cache", "", "adapter cache folder the replicas share (default: the user cache dir)")
	f.DurationVar(&o.readyTimeout, "replica-ready-timeout", 5*time.Minute, "a replica not ready this long after its start fails the deployment (Errored) with its own error")
	f.DurationVar(&o.unhealthy, "replica-unhealthy-timeout", 30*time.Second, "a live replica whose /readyz fails this long is killed and replaced")
	f.DurationVar(&o.drain, "replica-drain-timeout", 5*time.Minute, "how long a stopping replica's running streams may take to finish")
}

func (o *controlOptions) config() control.Config {
	return control.Config{Redis: o.redis, Listen: o.listen, APIKey: o.apiKey, AdapterCache: o.adapterCache,
		ReadyTimeout: o.readyTimeout, Unhealthy: o.unhealthy, Drain: o.drain}
}

func newControlCommand() *cobra.Command {
	var o controlOptions
	cmd := &cobra.Command{
		Use:   "control --redis URL [--api-listen HOST:PORT]",
		Short: "Run the control process: deployment controllers, their replicas and the management API",
		Long: `Run the control process. It keeps every deployment in Redis at its status:
one controller per deployment starts and stops its replicas (each a "graft serve"
child process on its own 127.0.0.1 port), replaces replicas that crash, scales
between min_replicas and max_replicas on the load the replicas report, scales
to zero after the cooldown and wakes on request. The management API
(/v1/deployments, driven by "graft deployments") listens on --api-listen, with
/healthz, /readyz and Prometheus /metrics beside it. On SIGTERM the replicas
drain their streams and stop.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return control.Run(cmd.Context(), o.config())
		},
	}
	addControlFlags(cmd, &o, "127.0.0.1:8080")
	cmd.Flags().StringVar(&o.redis, "redis", "", "Redis URL (redis://host:port/db) holding the deployments; run it with appendonly yes (required)")
	_ = cmd.MarkFlagRequired("redis")
	return cmd
}
