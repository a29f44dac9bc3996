package benchmark

import (
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/gguf"
	"github.com/graft-ai/graft/engine/sample"
)

//go:embed llama_quantize.py
var quantizeScript []byte

// agreementPrompts is how many prompts the greedy agreement with llama.cpp
// runs on each weight format.
const agreementPrompts = 4

// weightFTypes maps the names --weights takes to llama.cpp's llama_ftype.
var weightFTypes = map[string]int{
	"f32": 0, "f16": 1, "bf16": 32, "q8_0": 7, "q4_0": 2, "q4_1": 3, "q5_0": 8, "q5_1": 9,
	"q2_k": 10, "q3_k_m": 12, "q4_k_m": 15, "q5_k_m": 17, "q6_k": 18,
}

// WeightNames lists the formats Options.Weights accepts.
func WeightNames() []string {
	return []string{"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k", "q3_k_m", "q4_k_m", "q5_k_m", "q6_k"}
}

// WeightRun is one weight format's measurements, Graft's and llama.cpp's on
// the same file.
type WeightRun struct {
	Name        string
	File        string
	FileBytes   int64
	DecodeBytes int64   // weight bytes one single-stream decode step reads
	DecodeBound float64 // tok/s: the read bandwidth over DecodeBytes
	// Bandwidth holds the read passes taken between this format's
	// single-stream decode repetitions, which DecodeBound is from.
	Bandwidth []float64
	Prefill   float64
	Decode    []Decode
	PeakRSS   int64
	KVBytes   int64                     // the engine's KV cache
	Greedy    [][]int32                 // Graft's greedy tokens on each agreement prompt
	Top       [][][]sample.TokenLogprob // Graft's likeliest tokens at each of those steps
	LlamaCpp  *LlamaCpp
}

// DecodeAt returns Graft's decode rate at n streams, 0 if not measured.
func (w *WeightRun) DecodeAt(n int) float64 {
	for _, d := range w.Decode {
		if d.Streams == n {
			return d.TokS
		}
	}
	return 0
}

// weightFile returns the GGUF of the benchmark model in format name, made
// from the F32 file by llama.cpp's own quantizer and cached next to it.
func weightFile(ctx context.Context, o Options, f32, name string) (string, error) {
	ft, ok := weightFTypes[name]
	if !ok {
		return "", fmt.Errorf("benchmark: unknown weight format %q (want one of %s)", name, strings.Join(WeightNames(), ", "))
	}
	if ft == 0 {
		return f32, nil
	}
	out := strings.TrimSuffix(strings.TrimSuffix(f32, ".gguf"), "-f32") + "-" + name + ".gguf"
	if exists(out) {
		return out, nil
	}
	dir := cmp.Or(o.QuantizerDir, o.LlamaCppDir)
	if dir == "" {
		return "", fmt.Errorf("benchmark: %s weights are made by llama.cpp's quantizer: set QuantizerDir to bench/llamacpp", name)
	}
	if err := npmInstall(ctx, dir); err != nil {
		return "", err
	}
	lib := filepath.Join(dir, "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libllama.v0.4.0.so")
	script := filepath.Join(filepath.Dir(out), "llama_quantize.py")
	if err := os.WriteFile(script, quantizeScript, 0o644); err != nil {
		return "", err
	}
	fmt.Fprintf(o.Log, "quantizing to %s with llama.cpp\n", name)
	return out, writeAtomically(out, func(tmp string) error {
		cmd := exec.CommandContext(ctx, "python3", script, lib, f32, tmp, fmt.Sprint(ft))
		if msg, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("llama_model_quantize to %s: %w: %s", name, err, tail(msg))
		}
		return nil
	})
}

// measureWeights runs Graft and (when asked) llama.cpp on each weight
// format, o.Rounds times in turn, and keeps the medians (mergeRounds).
func measureWeights(ctx context.Context, o Options, w workload, r *Report) error {
	for _, name := range o.Weights {
		file, err := weightFile(ctx, o, r.Files.GGUF, name)
		if err != nil {
			return err
		}
		st, err := os.Stat(file)
		if err != nil {
			return err
		}
		var runs []WeightRun
		for round := range o.Rounds {
			wr := WeightRun{Name: name, File: file, FileBytes: st.Size()}
			if err := measureWeight(ctx, o, w, &wr, round, r); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if o.Rounds > 1 {
				logRound(o, wr, round)
			}
			runs = append(runs, wr)
		}
		wr, err := mergeRounds(runs)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		r.Weights = append(r.Weights, wr)
	}
	return nil
}

// measureWeight is one round of measureWeights on wr's file.
func measureWeight(ctx context.Context, o Options, w workload, wr *WeightRun, round int, r *Report) error {
	runtime.GC()
	debug.FreeOSMemory()
	_ = resetPeakRSS()
	fmt.Fprintf(o.Log, "%s: Graft%s\n", wr.Name, roundNote(round, o.Rounds))
	sub := &Report{Files: Files{GGUF: wr.File}}
	if err := measureGraft(ctx, o, w, sub); err != nil {
		return err
	}
	wr.DecodeBytes, wr.Prefill, wr.Decode, wr.PeakRSS = sub.DecodeBytes, sub.Prefill, sub.Decode, sub.PeakRSS
	wr.KVBytes, wr.Bandwidth = sub.KVBytes, sub.LocalBandwidth
	wr.Greedy, wr.Top, r.Params = sub.Greedy.All, sub.Greedy.AllTop, sub.Params
	if o.LlamaCppDir == "" {
		return nil
	}
	fmt.Fprintf(o.Log, "%s: llama.cpp%s\n", wr.Name, roundNote(round, o.Rounds))
	var err error
	if wr.LlamaCpp, err = runLlamaCpp(ctx, o, w, wr.File); err != nil {
		return fmt.Errorf("llama.cpp: %w", err)
	}
	return nil
}

// logRound shows a round's main rates, the spread the medians hide.
func logRound(o Options, wr WeightRun, round int) {
	line := fmt.Sprintf("%s round %d: prefill G %.1f, dec1 G %.1f", wr.Name, round+1, wr.Prefill, wr.DecodeAt(1))
	if l := wr.LlamaCpp; l != nil {
		line += fmt.Sprintf("; L %.1f, %.1f", l.Prefill, l.DecodeAt(1))
	}
	fmt.Fprintf(o.Log, "%s; read passes %.1f GB/s\n", line, medianOf(wr.Bandwidth))
}

func roundNote(round, rounds int) string {
	if rounds < 2 {
		return ""
	}
	return fmt.Sprintf(", round %d of %d", round+1, rounds)
}

// mergeRounds is one WeightRun of rounds of the same file: each rate the
// median of its rounds', the read passes of all, the highest peak RSS.
// Graft's greedy tokens must be the same in every round (a batch-invariant
// engine on the same prompts); a difference is an error.
func mergeRounds(runs []WeightRun) (WeightRun, error) {
	m := runs[0]
	if len(runs) == 1 {
		return m, nil
	}
	m.Bandwidth = nil
	var prefill []float64
	for _, r := range runs {
		if !slices.EqualFunc(r.Greedy, m.Greedy, slices.Equal) {
			return m, fmt.Errorf("Graft's greedy tokens differ between rounds: %v, then %v", m.Greedy, r.Greedy)
		}
		prefill = append(prefill, r.Prefill)
		m.Bandwidth = append(m.Bandwidth, r.Bandwidth...)
		m.PeakRSS = max(m.PeakRSS, r.PeakRSS)
	}
	m.Prefill = medianOf(prefill)
	m.Decode = nil
	for _, d := range runs[0].Decode {
		m.Decode = append(m.Decode, Decode{Streams: d.Streams, TokS: medianOf(collect(runs, func(r WeightRun) float64 { return r.DecodeAt(d.Streams) }))})
	}
	if m.LlamaCpp != nil {
		l := *m.LlamaCpp
		l.Prefill = medianOf(collect(runs, func(r WeightRun) float64 { return r.LlamaCpp.Prefill }))
		l.Decode = map[string]float64{}
		for k := range m.LlamaCpp.Decode {
			l.Decode[k] = medianOf(collect(runs, func(r WeightRun) float64 { return r.LlamaCpp.Decode[k] }))
		}
		for _, r := range runs {
			l.PeakRSS = max(l.PeakRSS, r.LlamaCpp.PeakRSS)
		}
		m.LlamaCpp = &l
	}
	return m, nil
}

// collect is f of each run.
func collect(runs []WeightRun, f func(WeightRun) float64) []float64 {
	xs := make([]float64, len(runs))
	for i, r := range runs {
		xs[i] = f(r)
	}
	return xs
}

// matrixBytes is the size of a weight matrix in the format it is kept in.
func matrixBytes(m compute.Matrix) int64 {
	n := int64(m.Rows()) * int64(m.Cols())
	if s, ok := m.(interface{ Stored() gguf.Type }); ok {
		t := s.Stored()
		return n / int64(t.BlockSize()) * int64(t.BlockBytes())
	}
	return 4 * n
}
