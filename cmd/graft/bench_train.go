package main

import (
	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/engine/train"
)

func init() { registerBench(newBenchTrainCommand) }

func newBenchTrainCommand() *cobra.Command {
	var o train.BenchOptions
	cmd := &cobra.Command{
		Use:   "train [--dir DIR] [--threads N] [--seq 256] [--batch 2] [--steps 3]",
		Short: "Measure LoRA training tokens/s on a random 110M Llama, against Hugging Face PEFT",
		Long: `Write a seeded random Llama of stories110M's shape (F32) and time LoRA training
steps (forward, backward, clipping, AdamW) on a fixed batch of random tokens,
loss on every position. When the PEFT virtualenv is present (make peft-deps:
` + train.PEFTVersions + `), the same steps — same model, batch, initial
adapter and rank — are timed with PEFT + transformers on torch's CPU kernels
in the same run, and the ratio is printed (goal ≥ 1.0). Otherwise the line
says why PEFT was skipped.`,
		Example: `  graft bench train --dir /tmp/graft-bench
  graft bench train --seq 128 --batch 4 --no-peft`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Log = cmd.ErrOrStderr()
			r, err := train.Bench(cmd.Context(), o)
			if err != nil {
				return err
			}
			r.Print(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", "", "keep the model in this directory and reuse it (default: a temporary directory)")
	f.IntVar(&o.Threads, "threads", 0, "CPU threads for both (0: all cores)")
	f.IntVar(&o.Seq, "seq", 256, "tokens per sequence")
	f.IntVar(&o.Batch, "batch", 2, "sequences per step")
	f.IntVar(&o.Steps, "steps", 3, "timed steps, after one untimed")
	f.IntVar(&o.Rank, "rank", 16, "LoRA rank")
	f.StringSliceVar(&o.Targets, "targets", nil, "target modules (default all seven projections)")
	f.Uint64Var(&o.Seed, "seed", 1, "seed of the random model, batch and adapter")
	f.BoolVar(&o.NoPEFT, "no-peft", false, "time Graft only")
	return cmd
}
