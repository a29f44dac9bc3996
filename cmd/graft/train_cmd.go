package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/engine/train"
)

func init() { register(newTrainCommand) }

func newTrainCommand() *cobra.Command {
	var configPath, eventsPath string
	cmd := &cobra.Command{
		Use:   "train --config JOB.json [--events EVENTS.jsonl]",
		Short: "Fine-tune a LoRA adapter on a base model (one training job)",
		Long: `Train a LoRA adapter as the job file says and write it, in PEFT's format
(adapter_config.json + adapter_model.safetensors), to its OutputDir.

The job file is engine/train's Config as JSON, field names as in Go, e.g.
  {"BaseModel": "models/stories260K/hf", "TrainFile": "train.jsonl",
   "OutputDir": "out/adapter", "CheckpointDir": "out/ckpt", "Epochs": 3,
   "Rank": 8, "TargetModules": ["q_proj", "v_proj"]}
Training data is JSONL in OpenAI's chat ({"messages": [...]}) or
prompt/completion format. With a CheckpointDir the job resumes from its latest
checkpoint. One event (train.Event) per JSON line goes to --events (appended)
or to stdout. Interrupting (SIGINT/SIGTERM) stops the job without an adapter;
bad input exits with status 2 and a message naming the problem.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" {
				return usageError("--config is required")
			}
			cfg, err := train.ReadConfig(configPath)
			if err != nil {
				return usageError("%s: %v", configPath, err)
			}
			out := cmd.OutOrStdout()
			if eventsPath != "" {
				f, err := os.OpenFile(eventsPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
				if err != nil {
					return usageError("--events: %v", err)
				}
				defer f.Close()
				out = f
			}
			return runTrain(cmd, cfg, out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "training job file (train.Config as JSON)")
	f.StringVar(&eventsPath, "events", "", "append events as JSON lines to this file (default: stdout)")
	return cmd
}

func runTrain(cmd *cobra.Command, cfg train.Config, out io.Writer) error {
	enc := json.NewEncoder(out)
	var werr error
	err := train.Run(cmd.Context(), cfg, func(e train.Event) {
		if werr == nil {
			werr = enc.Encode(e)
		}
	})
	var bad *train.InputError
	switch {
	case errors.As(err, &bad):
		return exitError{code: 2, err: fmt.Errorf("train: %w", err)}
	case err != nil:
		return fmt.Errorf("train: %w", err)
	}
	return werr
}
