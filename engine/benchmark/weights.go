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

// measureWeights runs Graft and (when asked) llama.cpp on each weight format.
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
		runtime.GC()
		debug.FreeOSMemory()
		_ = resetPeakRSS()
		fmt.Fprintf(o.Log, "%s: Graft\n", name)
		sub := &Report{Files: Files{GGUF: file}}
		wr := WeightRun{Name: name, File: file, FileBytes: st.Size()}
		if err := measureGraft(ctx, o, w, sub); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		wr.DecodeBytes, wr.Prefill, wr.Decode, wr.PeakRSS = sub.DecodeBytes, sub.Prefill, sub.Decode, sub.PeakRSS
		wr.KVBytes, wr.Bandwidth = sub.KVBytes, sub.LocalBandwidth
		wr.Greedy, wr.Top, r.Params = sub.Greedy.All, sub.Greedy.AllTop, sub.Params
		if o.LlamaCppDir != "" {
			fmt.Fprintf(o.Log, "%s: llama.cpp\n", name)
			if wr.LlamaCpp, err = runLlamaCpp(ctx, o, w, file); err != nil {
				return fmt.Errorf("%s: llama.cpp: %w", name, err)
			}
		}
		r.Weights = append(r.Weights, wr)
	}
	return nil
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
