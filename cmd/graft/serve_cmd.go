package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/graft-ai/graft/engine/server"
)

func init() { register(newServeCommand) }

func newServeCommand() *cobra.Command {
	var eo engineOptions
	var so sidecarOptions
	cmd := &cobra.Command{
		Use:   "serve --model PATH --listen HOST:PORT [--adapter-root DIR]",
		Short: "Run one pod: the engine and its OpenAI API sidecar in one process",
		Long: `Run the engine and the sidecar of one pod in this process. The two roles talk
over a real gRPC connection on a unix socket in a private temporary folder, just
as "graft engine" and "graft sidecar" do as separate processes, so the API
behaves the same either way.

Adapters in --adapter-root are addressed by folder name in "model". On SIGTERM
the HTTP listener closes, running streams get --drain-timeout to finish, then
the engine drains and stops.`,
		Example: `  graft serve --model ../shared/models/stories260K/gguf/stories260K.gguf --listen 127.0.0.1:8000`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			so.servedName, eo.drain = eo.servedName, so.drain
			return runServe(cmd.Context(), &eo, &so)
		},
	}
	addEngineFlags(cmd, &eo)
	_ = cmd.MarkFlagRequired("model")
	addSidecarFlags(cmd, &so)
	return cmd
}

func runServe(ctx context.Context, eo *engineOptions, so *sidecarOptions) error {
	dir, err := os.MkdirTemp("", "graft-serve-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addr := "unix://" + filepath.Join(dir, "engine.sock")
	lis, err := server.Listen(addr)
	if err != nil {
		return err
	}
	re, err := startEngine(eo)
	if err != nil {
		lis.Close()
		return err
	}
	defer re.close()
	// The engine outlives the sidecar's drain: it stops only once the HTTP side
	// has finished its streams.
	ectx, stopEngine := context.WithCancel(context.Background())
	engineDone := make(chan error, 1)
	go func() { engineDone <- re.srv.Serve(ectx, re.grpc, lis, eo.drain) }()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		stopEngine()
		<-engineDone
		return err
	}
	err = runSidecar(ctx, conn, so)
	conn.Close()
	stopEngine()
	if eerr := <-engineDone; err == nil {
		err = eerr
	}
	return err
}
