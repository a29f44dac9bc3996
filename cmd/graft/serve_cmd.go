package main

import (
	"context"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/engine/server"
	"github.com/graft-ai/graft/sidecar"
)

func init() { register(newServeCommand) }

func newServeCommand() *cobra.Command {
	var eo engineOptions
	var so sidecarOptions
	var to traceOptions
	cmd := &cobra.Command{
		Use:   "serve --model PATH --listen HOST:PORT [--adapter-root DIR]",
		Short: "Run one pod: the engine and its OpenAI API sidecar in one process",
		Long: `Run the engine and the sidecar of one pod in this process. The two roles talk
over a real gRPC connection on a unix socket in a private temporary folder, just
as "graft engine" and "graft sidecar" do as separate processes, so the API
behaves the same either way.

Adapters in --adapter-root are addressed by folder name in "model"; the engine
loads adapters only from there and from --adapter-cache. On SIGTERM the HTTP
listener closes, running streams get --drain-timeout to finish, then the engine
drains and stops.`,
		Example: `  graft serve --model ../shared/models/stories260K/gguf/stories260K.gguf --listen 127.0.0.1:8000`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), &eo, &so, to)
		},
	}
	addEngineFlags(cmd, &eo)
	_ = cmd.MarkFlagRequired("model")
	addSidecarFlags(cmd, &so)
	addTraceFlags(cmd, &to)
	return cmd
}

// runServe runs one pod: the engine on a private unix socket, and the sidecar
// in front of it until ctx ends.
func runServe(ctx context.Context, eo *engineOptions, so *sidecarOptions, to traceOptions) error {
	opts, err := eo.serverOptions(ctx)
	if err != nil {
		return err
	}
	var stopE, stopS func()
	opts.Tracer, stopE = to.start(ctx, "graft-engine")
	defer stopE()
	opts.Drain = so.drain
	cfg, err := so.config()
	if err != nil {
		return err
	}
	cfg.Tracer, stopS = to.start(ctx, "graft-sidecar")
	defer stopS()
	cfg.ServedName = opts.ServedName
	cfg.AdapterCache = sidecar.AdapterCacheDir(cfg.AdapterCache)
	opts.AdapterDirs = adapterDirs(cfg.AdapterRoot, cfg.TunedAdapterRoot, cfg.AdapterCache)
	// The engine outlives the sidecar's drain: it stops only once the HTTP side
	// has finished its streams, so it must not see ctx end.
	eng, err := server.Start(context.WithoutCancel(ctx), opts)
	if err != nil {
		if cfg.Listener != nil {
			cfg.Listener.Close()
		}
		return err
	}
	cfg.Engine = eng.Addr()
	err = sidecar.Run(ctx, cfg)
	eng.Stop()
	if eerr := eng.Wait(); err == nil {
		err = eerr
	}
	return err
}

// adapterDirs are the directories the sidecar hands the engine adapters from,
// absolute so the engine's check does not depend on its working directory.
func adapterDirs(dirs ...string) []string {
	var out []string
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if abs, err := filepath.Abs(d); err == nil {
			d = abs
		}
		out = append(out, d)
	}
	return out
}
