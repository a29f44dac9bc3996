// Package train fine-tunes LoRA adapters on the Llama-family models the
// engine runs: the base frozen in float32 (F32, BF16, F16 and GGUF-quantized
// files are all widened on load), trainable A/B pairs on the chosen
// projections, a full backward pass, AdamW with warm-up and decay, gradient
// clipping and accumulation, seeded data order and resumable checkpoints.
// The result is a PEFT adapter folder that engine/lora serves and PEFT loads.
package train

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"time"

	"github.com/graft-ai/graft/engine/model"
)

// Config is one training job. Zero values take the defaults listed.
type Config struct {
	BaseModel string // model dir or .gguf file, as engine.Load opens it, or a Hub id (hf://org/name@COMMIT) with BaseModelPath
	// BaseModelPath, when set, is the local copy of BaseModel that is loaded
	// (a Hub model its caller fetched); BaseModel then only names it, in the
	// adapter's config and in what a checkpoint is valid for.
	BaseModelPath string
	TrainFile     string // JSONL, OpenAI chat {"messages": [...]} or {"prompt", "completion"}
	ValidFile     string // optional, same format; its loss is reported at each epoch's end
	OutputDir     string // PEFT adapter folder written on success
	CheckpointDir string // resumes from the latest checkpoint here; "" for none

	Epochs    int // default 3
	BatchSize int // examples per micro-batch, default 4
	GradAccum int // micro-batches per optimizer step, default 1

	LearningRate  float64  // default 2e-4
	Rank          int      // default 8
	Alpha         float64  // default 2·Rank
	Dropout       float64  // lora_dropout, default 0
	RSLoRA        bool     // scale by Alpha/√Rank instead of Alpha/Rank
	TargetModules []string // PEFT names; default q_proj, v_proj

	Seed            int64
	WarmupSteps     int
	Schedule        string  // linear (default), cosine or constant, after warm-up
	MaxGradNorm     float64 // default 1; negative turns clipping off
	WeightDecay     float64 // AdamW's decoupled decay, default 0
	CheckpointEvery int     // optimizer steps between checkpoints, default 20

	MaxSeqLen int // tokens per example, longer ones are cut; default min(model's, 1024)
	Threads   int // CPU threads; default all cores
}

// Event reports progress. A step event (empty Message) follows each optimizer
// step; message events (loading, data summary, resume, adapter written) carry
// the step they happened at.
type Event struct {
	Step, TotalSteps, Epoch int
	TrainLoss               float64  // mean loss over the step's completion tokens
	ValidLoss               *float64 // at the last step of each epoch, with a ValidFile
	LearningRate            float64  // the rate this step used
	Tokens                  int      // tokens this step processed
	Time                    time.Time
	Message                 string
}

// Limits no sensible job reaches; they stop a mistyped one early.
const (
	maxEpochs = 1000
	maxBatch  = 4096
	maxRank   = 1024
)

// ReadConfig reads a job file: Config as JSON, unknown fields rejected.
func ReadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return ParseConfig(data)
}

// ParseConfig decodes Config JSON (field names as in Go) and checks it.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("training config: %w", err)
	}
	if dec.More() {
		return Config{}, fmt.Errorf("training config: more than one JSON value")
	}
	c = c.withDefaults()
	return c, c.Validate()
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Epochs, 3)
	def(&c.BatchSize, 4)
	def(&c.GradAccum, 1)
	def(&c.Rank, 8)
	def(&c.CheckpointEvery, 20)
	if c.LearningRate == 0 {
		c.LearningRate = 2e-4
	}
	if c.Alpha == 0 {
		c.Alpha = 2 * float64(c.Rank)
	}
	if c.MaxGradNorm == 0 {
		c.MaxGradNorm = 1
	}
	if c.Schedule == "" {
		c.Schedule = "linear"
	}
	if len(c.TargetModules) == 0 {
		c.TargetModules = []string{"q_proj", "v_proj"}
	}
	return c
}

// Validate reports the first problem of a Config (after defaults).
func (c Config) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case c.BaseModel == "":
		return fmt.Errorf("training config: BaseModel is required")
	case c.TrainFile == "":
		return fmt.Errorf("training config: TrainFile is required")
	case c.OutputDir == "":
		return fmt.Errorf("training config: OutputDir is required")
	case c.Epochs < 1 || c.Epochs > maxEpochs:
		return fmt.Errorf("training config: Epochs %d out of range 1..%d", c.Epochs, maxEpochs)
	case c.BatchSize < 1 || c.BatchSize > maxBatch || c.GradAccum < 1 || c.GradAccum > maxBatch:
		return fmt.Errorf("training config: BatchSize %d and GradAccum %d must be in 1..%d", c.BatchSize, c.GradAccum, maxBatch)
	case !finite(c.LearningRate) || c.LearningRate <= 0 || c.LearningRate > 1:
		return fmt.Errorf("training config: LearningRate %v must be in (0, 1]", c.LearningRate)
	case c.Rank < 1 || c.Rank > maxRank:
		return fmt.Errorf("training config: Rank %d out of range 1..%d", c.Rank, maxRank)
	case !finite(c.Alpha) || c.Alpha <= 0:
		return fmt.Errorf("training config: Alpha %v must be positive", c.Alpha)
	case !finite(c.Dropout) || c.Dropout < 0 || c.Dropout >= 1:
		return fmt.Errorf("training config: Dropout %v must be in [0, 1)", c.Dropout)
	case c.WarmupSteps < 0 || c.CheckpointEvery < 1 || c.MaxSeqLen < 0 || c.Threads < 0:
		return fmt.Errorf("training config: WarmupSteps, CheckpointEvery, MaxSeqLen and Threads must not be negative")
	case c.Schedule != "linear" && c.Schedule != "cosine" && c.Schedule != "constant":
		return fmt.Errorf("training config: Schedule %q (want linear, cosine or constant)", c.Schedule)
	case !finite(c.MaxGradNorm) || !finite(c.WeightDecay) || c.WeightDecay < 0:
		return fmt.Errorf("training config: MaxGradNorm and WeightDecay must be finite, WeightDecay not negative")
	}
	_, err := targetSet(c.TargetModules)
	return err
}

func targetSet(names []string) (t [model.NumModules]bool, err error) {
	for _, n := range names {
		i := slices.Index(model.ModuleNames[:], n)
		if i < 0 {
			return t, fmt.Errorf("training config: target module %q (want some of %v)", n, model.ModuleNames)
		}
		t[i] = true
	}
	return t, nil
}
