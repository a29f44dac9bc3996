package benchmark

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/graft-ai/graft/engine/randmodel"
	"github.com/graft-ai/graft/engine/sample"
)

// Report is one benchmark run. Rates are tokens per second; decode rates are
// aggregate over all streams.
type Report struct {
	Time     time.Time
	Spec     randmodel.Spec
	Threads  int
	Rounds   int    // Options.Rounds: each weight format's rate is the median of this many
	Kernels  string // kernel.Level(): avx512, avx2 or portable
	KVCache  string // Options.KVCacheDtype as asked: auto, f32 or f16
	Files    Files
	Params   int64
	LlamaCpp *LlamaCpp // nil unless asked for

	WriteTime, LoadGGUF, LoadHF time.Duration

	Prefill float64
	Decode  []Decode

	// Bandwidth holds every read-bandwidth pass in GB/s (before and after the
	// engines ran); BandwidthGBs is their median.
	Bandwidth    []float64
	BandwidthGBs float64
	// LocalBandwidth holds the passes taken between the single-stream
	// decode's repetitions (none where VmHWM cannot be reset).
	LocalBandwidth []float64
	// DecodeBytes is what one single-stream decode step must read; DecodeBound
	// is the median of LocalBandwidth (else BandwidthGBs) over it, the most
	// tokens per second one stream can get.
	DecodeBytes int64
	// KVBytes is the KV cache the engine was given (the largest batch's
	// streams, or the longest prompt, whichever needs more).
	KVBytes     int64
	DecodeBound float64

	// PeakRSS is Graft's VmHWM after the GGUF runs, in bytes. PeakRSSReset says
	// the high-water mark was reset after the model was written; if not, the
	// writer's peak is included.
	PeakRSS      int64
	PeakRSSReset bool
	// BinaryRSS is the graft executable's own resident pages (RssFile
	// before any model is loaded), which PeakRSS includes.
	BinaryRSS int64

	Greedy Greedy

	// Weights holds one run per format of Options.Weights.
	Weights []WeightRun
}

// Decode is the aggregate decode rate at a number of concurrent streams.
type Decode struct {
	Streams int
	TokS    float64
}

// Greedy holds each engine's greedy tokens from BOS on the random model.
type Greedy struct {
	GGUF, HF, LlamaCpp []int32
	All                [][]int32 // on the agreement prompts (with Options.Weights)
	// AllTop holds, for each agreement prompt and step, Graft's most
	// likely tokens with their log-probabilities.
	AllTop [][][]sample.TokenLogprob
}

// HFMatches reports whether the safetensors copy decodes as the GGUF copy.
func (g Greedy) HFMatches() bool { return slices.Equal(g.GGUF, g.HF) }

// LlamaCppMatches reports whether llama.cpp's greedy tokens equal Graft's.
func (g Greedy) LlamaCppMatches() bool { return g.LlamaCpp != nil && slices.Equal(g.GGUF, g.LlamaCpp) }

func (r *Report) finish() {
	r.BandwidthGBs = medianOf(r.Bandwidth)
	r.DecodeBound = r.bound(r.LocalBandwidth, r.DecodeBytes)
	if r.LlamaCpp != nil {
		r.Greedy.LlamaCpp = r.LlamaCpp.Greedy
	}
	for i := range r.Weights {
		wr := &r.Weights[i]
		wr.DecodeBound = r.bound(wr.Bandwidth, wr.DecodeBytes)
	}
}

// bound is the tok/s that reading bytes per token allows at the median of
// local passes, or of the whole run's where there are none.
func (r *Report) bound(local []float64, bytes int64) float64 {
	if bytes <= 0 {
		return 0
	}
	gbs := medianOf(local)
	if gbs == 0 {
		gbs = r.BandwidthGBs
	}
	return gbs * 1e9 / float64(bytes)
}

// passesNote says which read passes a bound is from.
func (r *Report) passesNote(local []float64) string {
	if len(local) > 0 {
		l := slices.Sorted(slices.Values(local))
		return fmt.Sprintf("(median of %d passes between the single-stream decode's repetitions, %.1f-%.1f; whole run %.1f)",
			len(l), l[0], l[len(l)-1], r.BandwidthGBs)
	}
	bw := slices.Sorted(slices.Values(r.Bandwidth))
	if len(bw) == 0 {
		return "(no passes)"
	}
	return fmt.Sprintf("(median of %d passes before and after the engines ran, %.1f-%.1f)", len(bw), bw[0], bw[len(bw)-1])
}

// DecodeAt returns Graft's aggregate decode rate at n streams, 0 if not measured.
func (r *Report) DecodeAt(n int) float64 {
	for _, d := range r.Decode {
		if d.Streams == n {
			return d.TokS
		}
	}
	return 0
}

// kvCacheNote names the KV cache type a run asked for.
func kvCacheNote(dtype string) string {
	if dtype == "" || dtype == "auto" {
		return "auto (f32)"
	}
	return dtype
}

// Print writes the report as a table, with ratios to llama.cpp and the goals
// Graft aims for when llama.cpp ran.
func (r *Report) Print(w io.Writer) {
	s := r.Spec
	fmt.Fprintf(w, "random Llama dim %d, %d layers, %d heads, FFN %d, vocab %d: %.1fM params, F32, seed %d; %d threads, %s kernels, KV cache %s\n",
		s.Dim, s.Layers, s.Heads, s.FFN, s.Vocab, float64(r.Params)/1e6, s.Seed, r.Threads, r.Kernels, kvCacheNote(r.KVCache))
	if r.Kernels == "portable" {
		fmt.Fprintln(w, "WARNING: portable kernels; build with GOEXPERIMENT=simd for the SIMD ones")
	}
	made := fmt.Sprintf("written in %.1f s", r.WriteTime.Seconds())
	if r.Files.Reused {
		made = "reused"
	}
	if len(r.Weights) > 0 {
		fmt.Fprintf(w, "model: %s (%s) and llama.cpp's quantizations of it\n\n", r.Files.GGUF, made)
		r.printWeights(w)
		return
	}
	fmt.Fprintf(w, "model: %s (%s)\nload: GGUF %.2f s, safetensors %.2f s\n\n", r.Files.GGUF, made, r.LoadGGUF.Seconds(), r.LoadHF.Seconds())
	r.printTable(w)
	if r.DecodeBound > 0 {
		fmt.Fprintf(w, "\ndecode bound: %.1f tok/s = %.1f GB/s read %s / %.1f MB per token; 1 stream reaches %.0f%%\n",
			r.DecodeBound, r.DecodeBound*float64(r.DecodeBytes)/1e9, r.passesNote(r.LocalBandwidth), float64(r.DecodeBytes)/1e6, 100*r.DecodeAt(1)/r.DecodeBound)
	}
	reset := ""
	if !r.PeakRSSReset {
		reset = " (includes writing the model: VmHWM could not be reset)"
	}
	fmt.Fprintf(w, "peak RSS: Graft %.0f MiB%s", float64(r.PeakRSS)/(1<<20), reset)
	if r.LlamaCpp != nil {
		fmt.Fprintf(w, ", llama.cpp (node process) %.0f MiB", float64(r.LlamaCpp.PeakRSS)/(1<<20))
	}
	fmt.Fprintln(w)
	r.printGreedy(w)
}

func (r *Report) printTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	lc := r.LlamaCpp
	if lc != nil {
		fmt.Fprintf(tw, "tok/s\tGraft\tllama.cpp\tGraft/llama.cpp\tgoal\t\n")
	} else {
		fmt.Fprintf(tw, "tok/s\tGraft\t\n")
	}
	row := func(name string, graft, ref float64, goal string) {
		if lc == nil {
			fmt.Fprintf(tw, "%s\t%.1f\t\n", name, graft)
			return
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.2fx\t%s\t\n", name, graft, ref, graft/ref, goal)
	}
	var lcPrefill float64
	if lc != nil {
		lcPrefill = lc.Prefill
	}
	row("prefill", r.Prefill, lcPrefill, ">= 1.0x")
	goals := map[int]string{1: ">= 1.0x", 32: ">= 1.5x"}
	for _, d := range r.Decode {
		var ref float64
		if lc != nil {
			ref = lc.DecodeAt(d.Streams)
		}
		row(fmt.Sprintf("decode, %d streams", d.Streams), d.TokS, ref, goals[d.Streams])
	}
	tw.Flush()
}

func (r *Report) printGreedy(w io.Writer) {
	g := r.Greedy
	fmt.Fprintf(w, "greedy from BOS: GGUF %v, safetensors %s", g.GGUF, verdict(g.HFMatches(), g.HF))
	if g.LlamaCpp != nil {
		fmt.Fprintf(w, ", llama.cpp %s", verdict(g.LlamaCppMatches(), g.LlamaCpp))
	}
	fmt.Fprintln(w)
}

func verdict(same bool, ids []int32) string {
	if same {
		return "same"
	}
	return fmt.Sprintf("DIFFERENT %v", ids)
}
