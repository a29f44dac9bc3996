// Package benchmark measures the engine on a seeded random Llama: prefill and
// batched decode throughput, the memory-bandwidth bound on decode, peak RSS, the
// GGUF and safetensors load paths and, optionally, llama.cpp on the same file
// and the same prompts for comparison. `graft bench engine` is its front end.
package benchmark

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/graft-ai/graft/engine/kernel"
	"github.com/graft-ai/graft/engine/randmodel"
)

// Options chooses the model and the work measured. Zero fields take the
// defaults: stories110M's shape, a 512-token prefill, 64 decode
// tokens per stream at 1, 8 and 32 streams.
type Options struct {
	// Dir caches the written model files between runs; "" uses a temporary
	// directory removed at the end.
	Dir     string
	Seed    uint64
	Threads int             // 0: all cores
	Spec    *randmodel.Spec // nil: randmodel.Stories110M(Seed)
	Log     io.Writer       // progress lines; nil for none

	PrefillTokens int   // prompt length of the prefill measurement
	PrefillReps   int   // repetitions; the median is reported
	DecodePrompt  int   // prompt length of each decode stream
	DecodeTokens  int   // tokens timed per stream
	DecodeReps    int   // repetitions of each decode measurement; the median is reported
	Batches       []int // concurrent streams of each decode measurement
	GreedyTokens  int   // tokens of the greedy cross-check
	BandwidthMiB  int   // size of the buffer the read-bandwidth test sums
	BandwidthReps int

	// CPUProfile, when set, is a path prefix: each timed phase writes
	// PREFIX-PHASE.pprof (prefill, decode1, decode8, ...).
	CPUProfile string

	// LlamaCpp runs bench/llamacpp on the same GGUF when LlamaCppDir is set.
	LlamaCppDir string

	// Weights, when set, measures each named weight format (WeightNames) of
	// the model side by side, files made by llama.cpp's quantizer, instead of
	// the F32-only run with its safetensors check.
	Weights []string
	// Rounds measures each weight format this many times, Graft and
	// llama.cpp in turn, and reports each rate's median: a host whose speed
	// drifts then moves both sides of a ratio alike.
	Rounds int
	// QuantActivations is the CPU backend's mode for quantized weights:
	// int8 (or empty) or float; see cpu.Backend.SetQuantActivations.
	QuantActivations string
	// NoRepack keeps quantized weights as the file stores them (see
	// cpu.Backend.SetRepack).
	NoRepack bool
	// KVCacheDtype is the engine's KV cache type: auto (or empty), f32 or
	// f16; the cache is sized in tokens, so f16 halves its bytes.
	KVCacheDtype string
	// QuantizerDir is bench/llamacpp, whose libllama makes the quantized
	// files; "" falls back to LlamaCppDir.
	QuantizerDir string
}

func (o *Options) defaults() {
	if o.Spec == nil {
		s := randmodel.Stories110M(o.Seed)
		o.Spec = &s
	}
	if o.Threads <= 0 {
		o.Threads = runtime.GOMAXPROCS(0)
	}
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&o.PrefillTokens, 512)
	def(&o.PrefillReps, 5)
	def(&o.DecodePrompt, 16)
	def(&o.DecodeTokens, 64)
	def(&o.DecodeReps, 3)
	def(&o.Rounds, 1)
	def(&o.GreedyTokens, 8)
	def(&o.BandwidthMiB, 512)
	def(&o.BandwidthReps, 9)
	if len(o.Batches) == 0 {
		o.Batches = []int{1, 8, 32}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

func (o *Options) validate() error {
	limit := o.Spec.MaxPositions
	if o.PrefillTokens >= limit || o.DecodePrompt+o.DecodeTokens+leadTokens >= limit || o.GreedyTokens+1 >= limit {
		return fmt.Errorf("benchmark: prompts and token counts must fit the model's %d positions", limit)
	}
	for _, n := range o.Batches {
		if n <= 0 {
			return fmt.Errorf("benchmark: batch of %d streams", n)
		}
	}
	return nil
}

// Run writes (or reuses) the model, measures Graft and, when asked, llama.cpp.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	dir, cleanup, err := cacheDir(o.Dir)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	r := &Report{Threads: o.Threads, Rounds: o.Rounds, Spec: *o.Spec, Time: time.Now(), Kernels: kernel.Level(), KVCache: o.KVCacheDtype}
	r.BinaryRSS, _ = fileRSS()
	files, err := writeModel(dir, *o.Spec, o.Log)
	if err != nil {
		return nil, err
	}
	r.Files, r.WriteTime = files, files.writeTime
	w := newWorkload(o)
	r.Bandwidth = append(r.Bandwidth, measureBandwidth(o.Threads, o.BandwidthMiB, o.BandwidthReps)...)
	r.PeakRSSReset = resetPeakRSS() == nil
	if len(o.Weights) > 0 {
		if err := measureWeights(ctx, o, w, r); err != nil {
			return nil, err
		}
		r.Bandwidth = append(r.Bandwidth, measureBandwidth(o.Threads, o.BandwidthMiB, o.BandwidthReps)...)
		r.finish()
		return r, ctx.Err()
	}
	if err := measureGraft(ctx, o, w, r); err != nil {
		return nil, err
	}
	if err := checkHF(ctx, o, w, r); err != nil {
		return nil, err
	}
	if o.LlamaCppDir != "" {
		fmt.Fprintln(o.Log, "running llama.cpp (node-llama-cpp) on the same GGUF")
		lc, err := runLlamaCpp(ctx, o, w, files.GGUF)
		if err != nil {
			return nil, fmt.Errorf("llama.cpp: %w", err)
		}
		r.LlamaCpp = lc
	}
	r.Bandwidth = append(r.Bandwidth, measureBandwidth(o.Threads, o.BandwidthMiB, o.BandwidthReps)...)
	r.finish()
	return r, ctx.Err()
}

// cacheDir returns dir, or a new temporary directory that cleanup removes.
func cacheDir(dir string) (string, func(), error) {
	if dir != "" {
		return dir, func() {}, os.MkdirAll(dir, 0o755)
	}
	tmp, err := os.MkdirTemp("", "graft-bench-")
	if err != nil {
		return "", nil, err
	}
	return tmp, func() { _ = os.RemoveAll(tmp) }, nil
}
