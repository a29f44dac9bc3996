package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/engine/benchmark"
)

func init() { registerBench(newBenchLoRACommand) }

func newBenchLoRACommand() *cobra.Command {
	var o benchmark.LoRAOptions
	noSeq := false
	cmd := &cobra.Command{
		Use:   "lora [--dir DIR] [--threads N] [--adapters 1,8,32,128] [--rounds N]",
		Short: "Measure multi-adapter decode against base-only decode on a random 110M Llama",
		Long: `Write a seeded random Llama of stories110M's shape (F32) and seeded random
rank-16 LoRA adapters on all seven projections, then time aggregate decode of 32
concurrent streams: without adapters, and spread over 1, 8, 32 and 128 distinct
adapters (stream i of pass p uses adapter (p*streams+i) mod N, so N may exceed the
streams). Each rate is shown as a ratio to the base-only rate; the goal is 0.85
at 32 adapters.

The naive baseline in the same run batches only within one adapter: each
adapter's streams run as their own batch, one adapter after another, as an
engine without mixed-adapter batches must.`,
		Example: `  graft bench lora --dir /tmp/graft-bench
  graft bench lora --adapters 32 --cpuprofile /tmp/lora   # writes /tmp/lora-base.pprof, /tmp/lora-lora32.pprof`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Sequential = !noSeq
			if o.Weights != "" && o.Weights != "f32" {
				dir, err := findLlamaCppDir("")
				if err != nil {
					return usageError("--weights %s: %v", o.Weights, err)
				}
				o.QuantizerDir = dir
			}
			o.Log = cmd.ErrOrStderr()
			r, err := benchmark.RunLoRA(cmd.Context(), o)
			if err != nil {
				return err
			}
			r.Print(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", "", "keep the model and adapter files in this directory and reuse them (default: a temporary directory)")
	f.IntVar(&o.Threads, "threads", 0, "CPU threads (0: all cores)")
	f.Uint64Var(&o.Seed, "seed", 1, "seed of the random model and prompts")
	f.IntVar(&o.Rank, "rank", 16, "adapter rank")
	f.IntVar(&o.Streams, "streams", 32, "concurrent decode streams")
	f.IntSliceVar(&o.Adapters, "adapters", []int{1, 8, 32, 128}, "distinct adapters of each measurement")
	f.IntVar(&o.MaxActive, "max-active-adapters", 0, "adapter slots (0: the most distinct adapters measured)")
	f.IntVar(&o.DecodeTokens, "decode-tokens", 32, "tokens timed per stream")
	f.StringVar(&o.AdapterDType, "adapter-dtype", "bf16", "how the adapters are saved: bf16 (as PEFT saves an adapter of a bfloat16 model) or f32")
	f.IntVar(&o.Rounds, "rounds", 1, "measure the base and every row in turn this many times and report medians (a host whose speed drifts then moves both sides of each ratio alike)")
	f.BoolVar(&noSeq, "no-sequential", false, "skip the one-adapter-at-a-time baseline")
	f.StringVar(&o.Weights, "weights", "", "base weight format ("+strings.Join(benchmark.WeightNames(), ",")+"; default f32), made by llama.cpp's quantizer from bench/llamacpp")
	f.StringVar(&o.KVCacheDtype, "kv-cache-dtype", "auto", kvDtypeFlagHelp)
	f.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of each batched measurement to PREFIX-PHASE.pprof")
	return cmd
}
