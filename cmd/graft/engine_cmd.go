package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/server"
)

func init() { register(newEngineCommand) }

// engineOptions are the flags of an engine process, shared by graft serve.
type engineOptions struct {
	model                 modelFlags
	servedName            string
	quantize              string
	threads               int
	cpu                   cpuFlags
	device                string
	maxNumSeqs            int
	maxModelLen           int
	kvCacheMiB            int64
	kvCacheDtype          string
	maxBatchedTokens      int
	maxActive             int
	maxCached             int
	maxRank               int
	maxQueued             int
	adapterMemFrac        float64
	allowRequestTemplates bool
	prefixCaching         bool
}

func addEngineFlags(cmd *cobra.Command, o *engineOptions) {
	f := cmd.Flags()
	addModelFlags(f, &o.model, &o.threads, &o.device, &o.cpu)
	f.StringVar(&o.quantize, "quantize", "", "quantize float weight matrices on load: q8_0 or q4_k (default: keep the file's formats)")
	f.StringVar(&o.servedName, "served-model-name", "", "the base model's id in the API (default: the model file or folder name without .gguf)")
	f.IntVar(&o.maxNumSeqs, "max-num-seqs", 0, "most sequences in one batch (0: engine default)")
	f.IntVar(&o.maxModelLen, "max-model-len", 0, "context length (0: the model's)")
	f.Int64Var(&o.kvCacheMiB, "kv-cache-mib", 0, "KV cache memory in MiB (0: engine default)")
	f.StringVar(&o.kvCacheDtype, "kv-cache-dtype", "auto", kvDtypeFlagHelp)
	f.IntVar(&o.maxBatchedTokens, "max-num-batched-tokens", 0, "token budget of one step: prefill chunks plus decodes (0: 512)")
	f.IntVar(&o.maxActive, "max-active-adapters", 0, "LoRA adapter slots: adapters whose requests share a step (0: 8, -1: no adapters)")
	f.IntVar(&o.maxCached, "max-cached-adapters", 0, "adapters kept parsed in host memory beyond the slots (0: 64)")
	f.IntVar(&o.maxRank, "max-lora-rank", 0, "largest adapter rank accepted (0: 64)")
	f.IntVar(&o.maxQueued, "max-queued", 0, "requests waiting for a batch slot before new ones are refused as too many (0: 256)")
	f.Float64Var(&o.adapterMemFrac, "adapter-memory-fraction", 0, "on a GPU, size the adapter slots to this fraction of free device memory (overrides --max-active-adapters; 0: off)")
	f.BoolVar(&o.prefixCaching, "prefix-caching", true, "reuse the KV cache of prompt prefixes computed before, per adapter (--prefix-caching=false: compute every prompt)")
	f.BoolVar(&o.allowRequestTemplates, "allow-request-chat-template", false, "let requests carry their own chat_template (a template is a program run in the engine; off, requests may only use the model's)")
}

// serverOptions maps the flags onto the engine library's options, fetching an
// hf:// model first; its served name defaults to the Hub id, as vLLM's does.
func (o *engineOptions) serverOptions(ctx context.Context) (server.Options, error) {
	path, hubID, err := o.model.resolve(ctx)
	if err != nil {
		return server.Options{}, err
	}
	served := o.servedName
	if served == "" {
		served = hubID
	}
	cfg := engine.Config{
		MaxNumSeqs: o.maxNumSeqs, MaxModelLen: o.maxModelLen, KVCacheBytes: o.kvCacheMiB << 20,
		MaxBatchedTokens: o.maxBatchedTokens, MaxActiveAdapters: o.maxActive,
		MaxCachedAdapters: o.maxCached, MaxLoRARank: o.maxRank, MaxQueued: o.maxQueued,
		DisablePrefixCaching: !o.prefixCaching, KVCacheDtype: o.kvCacheDtype,
	}
	return server.Options{
		Model: path, ServedName: served, Device: o.device, Threads: o.threads, Quantize: o.quantize,
		QuantActivations: o.cpu.quantAct, NoRepack: o.cpu.noRepack, Engine: cfg, AdapterMemoryFraction: o.adapterMemFrac,
		AllowRequestTemplates: o.allowRequestTemplates,
	}, nil
}

func newEngineCommand() *cobra.Command {
	var o engineOptions
	var listen string
	var adapterDirs []string
	var drain time.Duration
	var to traceOptions
	cmd := &cobra.Command{
		Use:   "engine --model PATH [--listen ADDR] [--adapter-dir DIR]...",
		Short: "Serve one model over gRPC (graft.engine.v1) for a sidecar",
		Long: `Load a model and serve the graft.engine.v1.Engine gRPC service and the
standard gRPC health service (grpc.health.v1) on ADDR: unix:///path/engine.sock
or HOST:PORT. Without --listen the engine serves on a unix socket in a fresh
private directory and logs its address. LoadAdapter reads adapters only from
inside the --adapter-dir directories. On SIGTERM the engine stops accepting
streams, lets running ones finish for up to --drain-timeout, then cancels the
rest.`,
		Example: `  graft engine --model ../shared/models/stories260K/gguf/stories260K.gguf --listen unix:///run/graft/engine.sock \
    --adapter-dir ../shared/models/stories260K/adapters`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := o.serverOptions(cmd.Context())
			if err != nil {
				return err
			}
			opts.Listen, opts.AdapterDirs, opts.Drain = listen, adapterDirs, drain
			tp, stop := to.start(cmd.Context(), "graft-engine")
			defer stop()
			opts.Tracer = tp
			r, err := server.Start(cmd.Context(), opts)
			if err != nil {
				return err
			}
			return r.Wait()
		},
	}
	addEngineFlags(cmd, &o)
	addTraceFlags(cmd, &to)
	_ = cmd.MarkFlagRequired("model")
	f := cmd.Flags()
	f.DurationVar(&drain, "drain-timeout", 30*time.Second, "on SIGTERM, how long running streams may take to finish")
	f.StringVar(&listen, "listen", "", "address: unix:///path.sock or HOST:PORT (default: a socket in a private temporary directory)")
	f.StringArrayVar(&adapterDirs, "adapter-dir", nil, "directory LoadAdapter may read adapters from (repeatable; none: no adapter can be loaded)")
	return cmd
}
