package benchmark

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ai/graft/engine/randmodel"
)

// TestRunLoRATiny checks the report's shape on a tiny model, including
// adapters that outnumber the streams and the slots.
func TestRunLoRATiny(t *testing.T) {
	s := randmodel.Spec{Arch: randmodel.Llama, Dim: 64, Layers: 2, Heads: 4, FFN: 128,
		Vocab: 300, MaxPositions: 128, Tied: true, Seed: 7}
	o := LoRAOptions{Dir: t.TempDir(), Threads: 2, Spec: &s, Rank: 4, Streams: 4, Adapters: []int{1, 4, 6},
		MaxActive: 4, DecodePrompt: 5, DecodeTokens: 12, Sequential: true, CPUProfile: filepath.Join(t.TempDir(), "prof")}
	r, err := RunLoRA(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Base <= 0 || len(r.Rows) != 3 {
		t.Fatalf("base %v, %d rows", r.Base, len(r.Rows))
	}
	for i, row := range r.Rows {
		if row.Adapters != o.Adapters[i] || row.Batched <= 0 || row.Sequential <= 0 {
			t.Errorf("row %d = %+v", i, row)
		}
	}
	var out bytes.Buffer
	r.Print(&out)
	for _, want := range []string{"batched tok/s", "sequential tok/s", "4 streams over 4 adapters"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	// A second run reuses the written files, in alternating rounds.
	o.Adapters, o.Sequential, o.CPUProfile, o.Rounds = []int{2}, false, "", 3
	if r, err = RunLoRA(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	r.Print(&out)
	if r.Rows[0].Ratio <= 0 || !strings.Contains(out.String(), "medians of 3 rounds") {
		t.Errorf("rounds: %+v\n%s", r.Rows, out.String())
	}
	o.Rounds = 1
	// On a base quantized by llama.cpp, when its quantizer is installed.
	dir, _ := filepath.Abs("../../bench/llamacpp")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "node-llama-cpp")); err != nil {
		t.Logf("skipping the quantized base: node-llama-cpp is not installed in %s", dir)
		return
	}
	o.Weights, o.QuantizerDir = "q8_0", dir
	r, err = RunLoRA(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	r.Print(&out)
	if r.Base <= 0 || len(r.Rows) != 1 || r.Rows[0].Batched <= 0 || !strings.Contains(out.String(), "q8_0 weights") {
		t.Errorf("quantized base run: %+v\n%s", r, out.String())
	}
}

func TestMedianOf(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := medianOf(c.xs); got != c.want {
			t.Errorf("medianOf(%v) = %v, want %v", c.xs, got, c.want)
		}
	}
}
