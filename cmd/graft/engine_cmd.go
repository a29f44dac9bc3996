package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/server"
)

func init() { register(newEngineCommand) }

// engineOptions are the flags of an engine process, shared by graft serve.
type engineOptions struct {
	model, servedName string
	threads           int
	device            string
	maxNumSeqs        int
	maxModelLen       int
	kvCacheMiB        int64
	maxBatchedTokens  int
	maxActive         int
	maxCached         int
	maxRank           int
	adapterMemFrac    float64
	drain             time.Duration
}

func addEngineFlags(cmd *cobra.Command, o *engineOptions) {
	f := cmd.Flags()
	addModelFlags(f, &o.model, &o.threads, &o.device)
	f.StringVar(&o.servedName, "served-model-name", "", "the base model's id in the API (default: the model file or folder name without .gguf)")
	f.IntVar(&o.maxNumSeqs, "max-num-seqs", 0, "most sequences in one batch (0: engine default)")
	f.IntVar(&o.maxModelLen, "max-model-len", 0, "context length (0: the model's)")
	f.Int64Var(&o.kvCacheMiB, "kv-cache-mib", 0, "KV cache memory in MiB (0: engine default)")
	f.IntVar(&o.maxBatchedTokens, "max-num-batched-tokens", 0, "token budget of one step: prefill chunks plus decodes (0: 512)")
	f.IntVar(&o.maxActive, "max-active-adapters", 0, "LoRA adapter slots: adapters whose requests share a step (0: 8, -1: no adapters)")
	f.IntVar(&o.maxCached, "max-cached-adapters", 0, "adapters kept parsed in host memory beyond the slots (0: 64)")
	f.IntVar(&o.maxRank, "max-lora-rank", 0, "largest adapter rank accepted (0: 64)")
	f.Float64Var(&o.adapterMemFrac, "adapter-memory-fraction", 0, "on a GPU, size the adapter slots to this fraction of free device memory (overrides --max-active-adapters; 0: off)")
}

func (o *engineOptions) modelID() string {
	if o.servedName != "" {
		return o.servedName
	}
	base := filepath.Base(filepath.Clean(o.model))
	if engine.IsGGUF(base) {
		base = base[:len(base)-len(".gguf")]
	}
	return base
}

// runningEngine is a loaded engine behind a gRPC server.
type runningEngine struct {
	srv   *server.Server
	grpc  *grpc.Server
	close func()
}

func startEngine(o *engineOptions) (*runningEngine, error) {
	b, closeB, err := newBackend(o.device, o.threads)
	if err != nil {
		return nil, err
	}
	l, err := engine.Load(o.model, b)
	if err != nil {
		closeB()
		return nil, err
	}
	rank := o.maxRank
	if rank <= 0 {
		rank = 64
	}
	if n, ok, err := adapterSlotsFromMemory(b, &l.Model.Config, o.adapterMemFrac, rank); err != nil {
		l.Close()
		closeB()
		return nil, usageError("%v", err)
	} else if ok {
		o.maxActive = n
	}
	eng, err := engine.New(l, engine.Config{
		MaxNumSeqs: o.maxNumSeqs, MaxModelLen: o.maxModelLen, KVCacheBytes: o.kvCacheMiB << 20,
		MaxBatchedTokens: o.maxBatchedTokens, MaxActiveAdapters: o.maxActive,
		MaxCachedAdapters: o.maxCached, MaxLoRARank: o.maxRank,
	})
	if err != nil {
		l.Close()
		closeB()
		return nil, usageError("%v", err)
	}
	srv := server.New(eng, o.modelID())
	g := grpc.NewServer()
	srv.Register(g)
	return &runningEngine{srv: srv, grpc: g, close: func() { eng.Close(); l.Close(); closeB() }}, nil
}

func newEngineCommand() *cobra.Command {
	var o engineOptions
	var listen string
	cmd := &cobra.Command{
		Use:   "engine --model PATH --listen ADDR",
		Short: "Serve one model over gRPC (graft.engine.v1) for a sidecar",
		Long: `Load a model and serve the graft.engine.v1.Engine gRPC service and the
standard gRPC health service (grpc.health.v1) on ADDR: unix:///path/engine.sock
or HOST:PORT. On SIGTERM the engine stops accepting streams, lets running ones
finish for up to --drain-timeout, then cancels the rest.`,
		Example: `  graft engine --model ../shared/models/stories260K/gguf/stories260K.gguf --listen unix:///tmp/graft-engine.sock`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEngine(cmd.Context(), &o, listen)
		},
	}
	addEngineFlags(cmd, &o)
	_ = cmd.MarkFlagRequired("model")
	cmd.Flags().DurationVar(&o.drain, "drain-timeout", 30*time.Second, "on SIGTERM, how long running streams may take to finish")
	cmd.Flags().StringVar(&listen, "listen", "unix:///tmp/graft-engine.sock", "address: unix:///path.sock or HOST:PORT")
	return cmd
}

func runEngine(ctx context.Context, o *engineOptions, listen string) error {
	lis, err := server.Listen(listen)
	if err != nil {
		return usageError("--listen %s: %v", listen, err)
	}
	re, err := startEngine(o)
	if err != nil {
		lis.Close()
		return err
	}
	defer re.close()
	slog.Info("engine serving", "model", o.modelID(), "listen", listen)
	return re.srv.Serve(ctx, re.grpc, lis, o.drain)
}

// dialTarget turns a --listen style address into a grpc-go target.
func dialTarget(addr string) string {
	if path, ok := server.UnixPath(addr); ok {
		if !strings.HasPrefix(path, "/") {
			return "unix:" + path
		}
		return "unix://" + path
	}
	return fmt.Sprintf("passthrough:///%s", addr)
}
