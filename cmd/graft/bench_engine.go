package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/engine/benchmark"
)

func init() { registerBench(newBenchEngineCommand) }

type benchEngineOptions struct {
	opts        benchmark.Options
	vsLlamaCpp  bool
	llamaCppDir string
	batches     []int
	prefix      int
}

func newBenchEngineCommand() *cobra.Command {
	var o benchEngineOptions
	cmd := &cobra.Command{
		Use:   "engine [--vs-llamacpp] [--shared-prefix N] [--dir DIR] [--threads N] [--seed S]",
		Short: "Measure prefill, batched decode and memory on a random 110M Llama",
		Long: `Write a seeded random-weight Llama of stories110M's shape (dim 768, 12 layers,
12 heads, FFN 2048, vocab 32000) as GGUF F32 and Hugging Face safetensors, then
measure Graft on it: prefill tokens/s, aggregate decode tokens/s at 1, 8 and 32
concurrent streams, the memory-bandwidth bound on single-stream decode (the read
bandwidth of passes taken between the single-stream decode's repetitions, over
the bytes of weights one token reads), peak RSS, both load paths, and that both copies decode to the same greedy tokens.

With --vs-llamacpp, llama.cpp (node-llama-cpp from bench/llamacpp, installed
with npm on first use) runs the same GGUF, prompts and token counts with the
same number of threads on the CPU, and the table shows Graft/llama.cpp ratios.

With --shared-prefix N, measure the prefix cache instead: N requests submitted
at once, each a 1,000-token system prompt shared by all and 16 tokens of its
own, each run on a fresh engine: with prefix caching off; on, with the system
prompt new to the engine (cold); and on, after one untimed request with the
same system prompt (warm, as traffic before them would leave it). The table
shows time to first token, prefill tokens/s and their on/off ratios, and
whether every run generated the same tokens.
The machine may be shared: compare numbers from one run, not across runs.`,
		Example: `  graft bench engine --vs-llamacpp --threads 2 --dir /tmp/graft-bench
  graft bench engine --cpuprofile /tmp/engine   # writes /tmp/engine-decode1.pprof, ...
  graft bench engine --shared-prefix 8 --threads 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.vsLlamaCpp || len(o.opts.Weights) > 0 {
				dir, err := findLlamaCppDir(o.llamaCppDir)
				if err != nil {
					return usageError("--vs-llamacpp / --weights: %v", err)
				}
				o.opts.QuantizerDir = dir
				if o.vsLlamaCpp {
					o.opts.LlamaCppDir = dir
				}
			}
			o.opts.Batches = o.batches
			o.opts.Log = cmd.ErrOrStderr()
			if cmd.Flags().Changed("shared-prefix") {
				if o.prefix <= 0 {
					return usageError("--shared-prefix must be at least 1, got %d", o.prefix)
				}
				r, err := benchmark.RunSharedPrefix(cmd.Context(), o.opts, o.prefix)
				if err != nil {
					return err
				}
				r.Print(cmd.OutOrStdout())
				return nil
			}
			r, err := benchmark.Run(cmd.Context(), o.opts)
			if err != nil {
				return err
			}
			r.Print(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.vsLlamaCpp, "vs-llamacpp", false, "also run llama.cpp (node-llama-cpp) on the same model and print ratios")
	f.StringVar(&o.llamaCppDir, "llamacpp-dir", "", "directory of bench/llamacpp (default: found above the working directory)")
	f.StringVar(&o.opts.Dir, "dir", "", "keep the model files in this directory and reuse them (default: a temporary directory)")
	f.IntVar(&o.opts.Threads, "threads", 0, "CPU threads for Graft and llama.cpp (0: all cores)")
	f.Uint64Var(&o.opts.Seed, "seed", 1, "seed of the random weights and prompts")
	f.IntVar(&o.opts.PrefillTokens, "prefill-tokens", 512, "prompt length of the prefill measurement")
	f.IntVar(&o.opts.DecodeTokens, "decode-tokens", 64, "tokens timed per decode stream")
	f.IntSliceVar(&o.batches, "streams", []int{1, 8, 32}, "concurrent decode streams to measure")
	f.IntVar(&o.prefix, "shared-prefix", 0, "measure the prefix cache: this many requests sharing a 1,000-token system prompt, cache off vs on")
	f.StringSliceVar(&o.opts.Weights, "weights", nil, "measure these weight formats side by side ("+strings.Join(benchmark.WeightNames(), ",")+"), files made by llama.cpp's quantizer; with --vs-llamacpp, llama.cpp runs each file too")
	f.IntVar(&o.opts.PrefillReps, "prefill-reps", 5, "repetitions of the prefill measurement (the median is reported)")
	f.IntVar(&o.opts.DecodeReps, "decode-reps", 3, "repetitions of each decode measurement (the median is reported)")
	f.IntVar(&o.opts.Rounds, "rounds", 1, "with --weights: measure each format this many times, Graft and llama.cpp in turn, and report each rate's median (a host whose speed drifts then moves both sides of a ratio alike)")
	f.StringVar(&o.opts.QuantActivations, "quant-activations", "int8", quantActFlagHelp)
	f.BoolVar(&o.opts.NoRepack, "no-repack", false, noRepackFlagHelp)
	f.StringVar(&o.opts.KVCacheDtype, "kv-cache-dtype", "auto", kvDtypeFlagHelp)
	f.StringVar(&o.opts.CPUProfile, "cpuprofile", "", "write a CPU profile of each timed phase to PREFIX-PHASE.pprof")
	return cmd
}

// findLlamaCppDir returns dir, or bench/llamacpp in the working directory or
// the nearest directory above it that has one.
func findLlamaCppDir(dir string) (string, error) {
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "bench.mjs")); err != nil {
			return "", fmt.Errorf("%s has no bench.mjs", dir)
		}
		return filepath.Abs(dir)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		c := filepath.Join(d, "bench", "llamacpp")
		if _, err := os.Stat(filepath.Join(c, "bench.mjs")); err == nil {
			return c, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no bench/llamacpp/bench.mjs in %s or above; pass --llamacpp-dir", wd)
		}
	}
}
