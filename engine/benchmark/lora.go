package benchmark

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"time"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/randmodel"
)

// LoRAOptions chooses the multi-adapter decode measurement. Zero fields take
// the defaults: stories110M's shape, rank-16 adapters on all seven
// projections, 32 streams over 1, 8, 32 and 128 distinct adapters.
type LoRAOptions struct {
	Dir     string // caches the model and adapters; "" uses a temporary directory
	Seed    uint64
	Threads int
	Spec    *randmodel.Spec
	Log     io.Writer

	Rank         int
	Streams      int
	Adapters     []int // distinct adapters of each measurement
	MaxActive    int   // adapter slots; 0: the most distinct adapters measured
	DecodePrompt int
	DecodeTokens int
	// Sequential also times the naive schedule: each adapter's streams as
	// their own batch, one adapter after another.
	Sequential bool
	// CPUProfile, when set, writes PREFIX-loraN.pprof for the batched run of N adapters.
	CPUProfile string
	// Weights names the base's format (WeightNames; "" is f32); other formats
	// are made by llama.cpp's quantizer from QuantizerDir (bench/llamacpp).
	Weights      string
	QuantizerDir string
	// Rounds repeats the whole measurement, base and rows in turn; the
	// report gives medians (default 1).
	Rounds int
	// AdapterDType is how the adapters are saved: "bf16" (the default, as
	// PEFT saves an adapter of a bfloat16 model) or "f32".
	AdapterDType string
	// KVCacheDtype is the engine's KV cache type (Options.KVCacheDtype).
	KVCacheDtype string
}

func (o *LoRAOptions) defaults() {
	if o.Spec == nil {
		s := randmodel.Stories110M(o.Seed)
		o.Spec = &s
	}
	if o.Threads <= 0 {
		o.Threads = runtime.GOMAXPROCS(0)
	}
	for p, v := range map[*int]int{&o.Rank: 16, &o.Streams: 32, &o.DecodePrompt: 16, &o.DecodeTokens: 32, &o.Rounds: 1} {
		if *p <= 0 {
			*p = v
		}
	}
	if len(o.Adapters) == 0 {
		o.Adapters = []int{1, 8, 32, 128}
	}
	if o.AdapterDType == "" {
		o.AdapterDType = "bf16"
	}
	if o.MaxActive <= 0 {
		o.MaxActive = maxOf(o.Adapters)
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// LoRAReport is one run: aggregate decode tokens/s of Streams concurrent
// streams without adapters and with each number of distinct adapters.
type LoRAReport struct {
	Time      time.Time
	Spec      randmodel.Spec
	Threads   int
	Rank      int
	Streams   int
	MaxActive int
	Weights   string
	Rounds    int
	// AdapterDType is how the adapters were saved (bf16 or f32).
	AdapterDType string
	Base         float64 // median over the rounds
	Rows         []LoRARow
}

// LoRARow is the rate with Adapters distinct adapters, batched together as
// Graft runs them and (when measured) one adapter's batch after another.
type LoRARow struct {
	Adapters   int
	Batched    float64
	Sequential float64 // 0 when not measured
	// Ratio is Batched over the base rate: the median over the rounds of
	// the two measured in the same round.
	Ratio float64
}

// RunLoRA writes (or reuses) the model and adapters and times decode.
func RunLoRA(ctx context.Context, o LoRAOptions) (*LoRAReport, error) {
	o.defaults()
	if o.AdapterDType != "bf16" && o.AdapterDType != "f32" {
		return nil, fmt.Errorf("benchmark: adapter dtype %q: want bf16 or f32", o.AdapterDType)
	}
	if o.DecodePrompt+o.DecodeTokens+leadTokens >= o.Spec.MaxPositions {
		return nil, fmt.Errorf("benchmark: prompts and tokens must fit the model's %d positions", o.Spec.MaxPositions)
	}
	dir, cleanup, err := cacheDir(o.Dir)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	files, err := writeModel(dir, *o.Spec, o.Log)
	if err != nil {
		return nil, err
	}
	adapters, err := writeAdapters(dir, o)
	if err != nil {
		return nil, err
	}
	base := files.GGUF
	if o.Weights != "" {
		qo := Options{QuantizerDir: o.QuantizerDir, Log: o.Log}
		if base, err = weightFile(ctx, qo, files.GGUF, o.Weights); err != nil {
			return nil, err
		}
	}
	b, err := newCPU(o.Threads, "", false)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	l, err := engine.Load(base, b)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	cfg, err := engineConfig(Options{Batches: []int{o.Streams}, DecodePrompt: o.DecodePrompt, DecodeTokens: o.DecodeTokens,
		KVCacheDtype: o.KVCacheDtype}, l.Model)
	if err != nil {
		return nil, err
	}
	cfg.MaxActiveAdapters, cfg.MaxCachedAdapters, cfg.MaxLoRARank = o.MaxActive, len(adapters), o.Rank
	eng, err := engine.New(l, cfg)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	for i, path := range adapters {
		if _, err := eng.LoadAdapter(adapterID(i), path); err != nil {
			return nil, err
		}
	}
	return measureLoRA(ctx, o, eng)
}

func adapterID(i int) string { return fmt.Sprintf("lora%03d", i) }

// writeAdapters writes one seeded adapter per distinct adapter measured, or
// reuses those a previous run left in dir.
func writeAdapters(dir string, o LoRAOptions) ([]string, error) {
	n := maxOf(o.Adapters)
	fmt.Fprintf(o.Log, "writing %d rank-%d adapters\n", n, o.Rank)
	paths := make([]string, n)
	for i := range paths {
		paths[i] = filepath.Join(dir, fmt.Sprintf("lora-%s-r%d-%s-seed%d", modelBase(*o.Spec), o.Rank, o.AdapterDType, i+1))
		if exists(filepath.Join(paths[i], "adapter_model.safetensors")) {
			continue
		}
		a := randmodel.AdapterSpec{Rank: o.Rank, Alpha: float64(2 * o.Rank), Targets: randmodel.AdapterModules, Seed: uint64(i + 1),
			BF16: o.AdapterDType == "bf16"}
		if err := writeAtomically(paths[i], func(tmp string) error { return randmodel.WriteAdapter(tmp, *o.Spec, a) }); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

func modelBase(s randmodel.Spec) string {
	return fmt.Sprintf("d%d-l%d-h%d-f%d-v%d-seed%d", s.Dim, s.Layers, s.Heads, s.FFN, s.Vocab, s.Seed)
}
