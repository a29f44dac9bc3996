package benchmark

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ai/graft/engine/randmodel"
)

// tiny runs every phase on a small model in a fraction of a second.
func tiny(t *testing.T) Options {
	s := randmodel.Spec{Arch: randmodel.Llama, Dim: 64, Layers: 2, Heads: 4, FFN: 128,
		Vocab: 300, MaxPositions: 128, Tied: true, Seed: 7}
	return Options{
		Dir: t.TempDir(), Threads: 2, Spec: &s,
		PrefillTokens: 24, PrefillReps: 2, DecodePrompt: 5, DecodeTokens: 24,
		Batches: []int{1, 3}, GreedyTokens: 6, BandwidthMiB: 4, BandwidthReps: 2,
	}
}

func checkReport(t *testing.T, o Options, r *Report) {
	t.Helper()
	if r.Prefill <= 0 || r.BandwidthGBs <= 0 || r.DecodeBound <= 0 || r.PeakRSS <= 0 {
		t.Errorf("prefill %v, bandwidth %v, bound %v, peak RSS %v: all must be positive", r.Prefill, r.BandwidthGBs, r.DecodeBound, r.PeakRSS)
	}
	if len(r.Decode) != len(o.Batches) {
		t.Fatalf("%d decode results for batches %v", len(r.Decode), o.Batches)
	}
	for i, d := range r.Decode {
		if d.Streams != o.Batches[i] || d.TokS <= 0 {
			t.Errorf("decode result %d = %+v", i, d)
		}
	}
	if len(r.Bandwidth) != 2*o.BandwidthReps {
		t.Errorf("%d bandwidth passes, want %d", len(r.Bandwidth), 2*o.BandwidthReps)
	}
	// One pass before each single-stream repetition and one after the
	// last, and the bound is theirs.
	o.defaults()
	if want := o.DecodeReps + 1; len(r.LocalBandwidth) != want {
		t.Errorf("%d passes between single-stream repetitions, want %d", len(r.LocalBandwidth), want)
	}
	if want := medianOf(r.LocalBandwidth) * 1e9 / float64(r.DecodeBytes); r.DecodeBound != want {
		t.Errorf("bound %v tok/s, want %v from the local passes", r.DecodeBound, want)
	}
	if len(r.Greedy.GGUF) != o.GreedyTokens {
		t.Errorf("greedy tokens %v, want %d", r.Greedy.GGUF, o.GreedyTokens)
	}
	// The two copies hold the same float32 weights, so they must decode alike.
	if !r.Greedy.HFMatches() {
		t.Errorf("safetensors greedy %v differs from GGUF %v", r.Greedy.HF, r.Greedy.GGUF)
	}
}

func TestRunTiny(t *testing.T) {
	o := tiny(t)
	o.CPUProfile = filepath.Join(t.TempDir(), "prof")
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, o, r)
	s := o.Spec
	// Projections: q,k,v,o are dim x dim, gate/up/down dim x FFN; tied head.
	linear := int64(s.Layers * (4*s.Dim*s.Dim + 3*s.Dim*s.FFN))
	norms := int64((2*s.Layers + 1) * s.Dim)
	if want := linear + int64(s.Vocab*s.Dim) + norms; r.Params != want {
		t.Errorf("params = %d, want %d", r.Params, want)
	}
	if want := 4 * (linear + int64(s.Vocab*s.Dim) + int64(s.Dim) + norms); r.DecodeBytes != want {
		t.Errorf("decode bytes per token = %d, want %d", r.DecodeBytes, want)
	}
	for _, phase := range []string{"prefill", "decode1", "decode3"} {
		if fi, err := os.Stat(o.CPUProfile + "-" + phase + ".pprof"); err != nil || fi.Size() == 0 {
			t.Errorf("profile of %s: %v", phase, err)
		}
	}
	var out bytes.Buffer
	r.Print(&out)
	for _, want := range []string{"prefill", "decode, 3 streams", "decode bound", "peak RSS", "safetensors same"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}

	// A second run reuses the files written by the first.
	o.CPUProfile = ""
	r2, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !r2.Files.Reused || r2.Files.GGUF != r.Files.GGUF || r2.Files.HF != r.Files.HF {
		t.Errorf("second run files %+v, want %+v reused", r2.Files, r.Files)
	}
}

// TestBoundPassesStayOutOfPeakRSS: the passes between single-stream
// repetitions read a buffer far larger than the tiny engine, which must not
// count in the engine's peak RSS.
func TestBoundPassesStayOutOfPeakRSS(t *testing.T) {
	o := tiny(t)
	o.BandwidthMiB = 256
	before, err := statusBytes("VmRSS:")
	if err != nil {
		t.Skip(err)
	}
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.LocalBandwidth) == 0 {
		t.Fatal("no passes between the single-stream repetitions")
	}
	if limit := before + 128<<20; r.PeakRSS > limit {
		t.Errorf("peak RSS %d MiB, over %d MiB: the %d MiB pass buffer was counted", r.PeakRSS>>20, limit>>20, o.BandwidthMiB)
	}
}

// TestRunTinyVsLlamaCpp runs llama.cpp on the same tiny GGUF when node and
// bench/llamacpp's packages are installed (npm ci --omit=optional there).
func TestRunTinyVsLlamaCpp(t *testing.T) {
	dir, _ := filepath.Abs("../../bench/llamacpp")
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "node-llama-cpp")); err != nil {
		t.Skipf("node-llama-cpp is not installed: run npm ci --omit=optional in %s", dir)
	}
	o := tiny(t)
	o.LlamaCppDir = dir
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, o, r)
	lc := r.LlamaCpp
	if lc == nil || lc.Prefill <= 0 || lc.PeakRSS <= 0 {
		t.Fatalf("llama.cpp result %+v", lc)
	}
	for _, n := range o.Batches {
		if lc.DecodeAt(n) <= 0 {
			t.Errorf("llama.cpp decode at %d streams = %v", n, lc.DecodeAt(n))
		}
	}
	if !r.Greedy.LlamaCppMatches() {
		t.Errorf("llama.cpp greedy %v, Graft %v", r.Greedy.LlamaCpp, r.Greedy.GGUF)
	}
	var out bytes.Buffer
	r.Print(&out)
	t.Logf("\n%s", out.String())
}

// TestRunTinyWeights measures a Q4_K_M copy of the tiny model, made by
// llama.cpp's quantizer, next to llama.cpp on the same file, in two rounds.
func TestRunTinyWeights(t *testing.T) {
	dir, _ := filepath.Abs("../../bench/llamacpp")
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "node-llama-cpp")); err != nil {
		t.Skipf("node-llama-cpp is not installed: run npm ci --omit=optional in %s", dir)
	}
	o := tiny(t)
	o.LlamaCppDir, o.Weights, o.Batches, o.DecodeReps, o.Rounds = dir, []string{"q4_k_m"}, []int{1}, 1, 2
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Weights) != 1 {
		t.Fatalf("%d weight runs, want 1", len(r.Weights))
	}
	wr := r.Weights[0]
	if wr.Prefill <= 0 || wr.DecodeAt(1) <= 0 || wr.DecodeBound <= 0 || wr.PeakRSS <= 0 || wr.LlamaCpp == nil || wr.LlamaCpp.Prefill <= 0 {
		t.Errorf("incomplete run %+v", wr)
	}
	if want := 2 * (o.DecodeReps + 1); len(wr.Bandwidth) != want {
		t.Errorf("%d read passes, want %d: both rounds'", len(wr.Bandwidth), want)
	}
	if len(wr.Greedy) != agreementPrompts || len(wr.Agreement()) != agreementPrompts {
		t.Errorf("greedy on %d prompts, agreement %v", len(wr.Greedy), wr.Agreement())
	}
	for i, g := range wr.Greedy {
		for s, id := range g {
			if top := wr.Top[i][s]; len(top) == 0 || top[0].Token != id {
				t.Errorf("prompt %d step %d: greedy took %d, likeliest listed %v", i, s, id, top)
			}
		}
	}
	for _, d := range wr.Divergences() {
		if d.Graft == d.Llama || d.Gap < 0 || (d.Rank == 1) {
			t.Errorf("divergence %+v", d)
		}
		t.Logf("divergence %+v", d)
	}
	// Q4_K_M keeps every matrix in blocks of at most 8.5 bits a weight (the
	// tiny model's rows are too short for K-quants, so llama.cpp falls back
	// to Q5_0..Q8_0): at most 8.5/32 of the F32 bytes per token, norms aside.
	if f32 := 4 * r.Params; wr.DecodeBytes <= 0 || float64(wr.DecodeBytes) >= 0.3*float64(f32) {
		t.Errorf("q4_k_m reads %d bytes per token, F32 would read %d", wr.DecodeBytes, f32)
	}
	var out bytes.Buffer
	r.Print(&out)
	for _, want := range []string{"q4_k_m", "dec1 G", "agree", "medians of 2 rounds"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}
