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

func TestSum8(t *testing.T) {
	x := make([]uint64, 64)
	var want uint64
	for i := range x {
		x[i] = uint64(i * i)
		want += x[i]
	}
	if got := sum8(x); got != want {
		t.Fatalf("sum8 = %d, want %d", got, want)
	}
}
