package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/engine/train"
	"github.com/graft-ai/graft/sidecar/modelsource"
)

func init() { register(newTrainCommand) }

func newTrainCommand() *cobra.Command {
	var configPath, eventsPath, modelCache string
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
prompt/completion format. BaseModel may be hf://org/name[@revision]: it is
fetched from the Hub (HF_ENDPOINT, HF_TOKEN) into --model-cache, and the adapter
names the commit it was trained on. With a CheckpointDir the job resumes from
its latest checkpoint. One event (train.Event) per JSON line goes to --events
(appended) or to stdout. Interrupting (SIGINT/SIGTERM) stops the job without an
adapter; bad input exits with status 2 and a message naming the problem.`,
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
			if err := fetchBaseModel(cmd.Context(), &cfg, modelCache); err != nil {
				return err
			}
			return runTrain(cmd, cfg, out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "training job file (train.Config as JSON)")
	f.StringVar(&eventsPath, "events", "", "append events as JSON lines to this file (default: stdout)")
	addModelCacheFlag(f, &modelCache)
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

// fetchBaseModel fetches an hf:// base model into the cache and pins the job to
// the commit it got, so a resumed job never mixes two versions of the base.
func fetchBaseModel(ctx context.Context, cfg *train.Config, cache string) error {
	if !modelsource.IsRemote(cfg.BaseModel) {
		return nil
	}
	m, err := modelsource.Open(ctx, cfg.BaseModel, cache)
	switch {
	case modelsource.IsInputError(err):
		return exitError{code: 2, err: fmt.Errorf("train: %w", err)}
	case err != nil:
		return fmt.Errorf("train: %w", err)
	}
	pinned := m.Ref
	pinned.Revision = m.Commit
	cfg.BaseModel, cfg.BaseModelPath = pinned.String(), m.Path
	return nil
}
