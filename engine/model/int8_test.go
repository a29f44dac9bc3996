package model

import (
	"math"
	"testing"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/compute/cpu"
	"github.com/graft-ai/graft/engine/gguf"
	"github.com/graft-ai/graft/engine/kernel"
)

// int8RelRMS bounds the RMS of the logits' difference, relative to their RMS,
// between the int8-activation forward pass and a float64 one over the same
// dequantized weights. Derivation: a Q8_0 activation block rounds each value
// to a step d = amax/127, an error uniform in ±d/2 (RMS d/√12) plus the half
// rounding of d (≤ 2^-11 relative), so each matmul's output moves by about
// (amax/σ)/(127·√12) of its RMS, independently per matmul: 0.6% for Q8_0's
// 32-value blocks (amax ≈ 2.5σ), 0.9% for Q8_K's 256-value ones (≈ 4σ).
// The logits see 7 such matmuls per layer plus the output head, 15 here,
// which add in quadrature to about √15 times that: 2.2% and 3.5%. 5% leaves
// room for the attention softmax sharpening some of them; measured: 2.0-2.1%
// (Q4_0, Q8_0), 3.0-3.1% (K-quants). A bug (a wrong block, scale or sign)
// moves the logits by their whole RMS.
const int8RelRMS = 0.05

// int8Files are the llama.cpp file types whose matrices may have integer
// dots: those whose types have none are skipped. Q8_0 is made by randmodel
// (ggml's reference encoder), so that one runs without llama.cpp.
var int8Files = []struct {
	name  string
	ftype int
}{{"Q8_0", 7}, {"Q4_0", 2}, {"Q4_1", 3}, {"Q5_0", 8}, {"Q5_1", 9}, {"Q4_K_M", 15}, {"Q5_K_M", 17}, {"Q6_K", 18}}

// openInt8 opens a GGUF file on a backend in int8 activation mode.
func openInt8(t *testing.T, path string) (*Model, *gguf.File) {
	t.Helper()
	return openGGUFOn(t, path, newCPU(t, 0, "int8"), nil)
}

// newCPU is a CPU backend of threads workers computing quantized matmuls
// with act activations (cpu.QuantActivationModes).
func newCPU(t *testing.T, threads int, act string) *cpu.Backend {
	t.Helper()
	b := cpu.New(threads)
	if err := b.SetQuantActivations(act); err != nil {
		b.Close()
		t.Fatal(err)
	}
	return b
}

// intDotTypes lists the stored types of m that have an integer dot.
func intDotTypes(m *Model) []gguf.Type {
	var out []gguf.Type
	for _, typ := range storedTypes(m) {
		if kernel.HasIntDot(typ) {
			out = append(out, typ)
		}
	}
	return out
}

// TestInt8Activations: for every file type with integer dots, the logits of
// a 40-token prompt with activations quantized to 8 bits are within
// int8RelRMS of a float64 forward pass over the file's dequantized weights,
// they differ from the exact float mode (the integer path ran), and a
// sequence batched with another gets the bits it gets alone.
func TestInt8Activations(t *testing.T) {
	s := quantSpec()
	f32 := writeGGUF(t, s, s.Weights(), "F32")
	prompt := testPrompt(s.Seed, 40, s.Vocab)
	ran := 0
	for _, ft := range int8Files {
		t.Run(ft.name, func(t *testing.T) {
			path := writeGGUF(t, s, s.Weights(), "Q8_0")
			if ft.name != "Q8_0" {
				path = llamaQuantize(t, f32, ft.ftype)
			}
			m, f := openInt8(t, path)
			types := intDotTypes(m)
			if len(types) == 0 {
				t.Skipf("no matrix of %v has an integer dot", storedTypes(m))
			}
			ran++
			got := forwardAll(t, m, prompt)
			want := newRef(s, dequantized(t, f, s)).forward(prompt)
			rel := relRMS(got, want)
			if rel > int8RelRMS || math.IsNaN(rel) {
				t.Errorf("%s: logits differ from the float64 reference by %.3g of their RMS (bound %g)", ft.name, rel, int8RelRMS)
			}
			fm, _ := openGGUFModel(t, path)
			exact := compare(forwardAll(t, fm, prompt), want)
			if d := compare(got, want); d.max <= exact.max {
				t.Errorf("%s: int8 logits are as close to the reference as the float mode's (%v vs %v): did the integer dots run?", ft.name, d, exact)
			}
			other := testPrompt(s.Seed+2, 23, s.Vocab)
			a, b := forwardPair(t, m, prompt, other)
			if d := compare(a, got); d.max != 0 {
				t.Errorf("%s: a sequence batched with another differs from alone by %v", ft.name, d)
			}
			if d := compare(b, forwardAll(t, m, other)); d.max != 0 {
				t.Errorf("%s: the other sequence differs from alone by %v", ft.name, d)
			}
			t.Logf("%s (int dots for %v): relative RMS %.3g, max difference %v (float mode %v)", ft.name, types, rel, compare(got, want), exact)
		})
	}
	if ran == 0 {
		t.Skip("no quantized file with integer dots could be made (see the subtests)")
	}
}

// relRMS is RMS(a-b)/RMS(b) over all positions and logits.
func relRMS[B float32 | float64](a [][]float32, b [][]B) float64 {
	var d2, b2 float64
	for p := range a {
		for i := range a[p] {
			d, w := float64(a[p][i])-float64(b[p][i]), float64(b[p][i])
			d2 += d * d
			b2 += w * w
		}
	}
	return math.Sqrt(d2 / b2)
}

// TestInt8DecodeStepDoesNotAllocate: in int8 mode too a decode step
// allocates nothing (the activation blocks live in the pool's scratch), for
// every file type with integer dots that can be made here.
func TestInt8DecodeStepDoesNotAllocate(t *testing.T) {
	s := quantSpec()
	f32 := writeGGUF(t, s, s.Weights(), "F32")
	for _, ft := range int8Files {
		t.Run(ft.name, func(t *testing.T) {
			path := writeGGUF(t, s, s.Weights(), "Q8_0")
			if ft.name != "Q8_0" {
				path = llamaQuantize(t, f32, ft.ftype)
			}
			m, _ := openInt8(t, path)
			if len(intDotTypes(m)) == 0 {
				t.Skipf("no matrix of %v has an integer dot", storedTypes(m))
			}
			checkDecodeStepAllocatesNothing(t, m, ft.name)
		})
	}
}

// TestInt8FusedProjections: the CPU backend's fused Q/K/V and gate/up
// matmuls (MatMulMany) give the bits of one MatMul per projection.
func TestInt8FusedProjections(t *testing.T) {
	s := quantSpec()
	path := writeGGUF(t, s, s.Weights(), "Q8_0")
	m, _ := openInt8(t, path)
	prompt := testPrompt(s.Seed, 20, s.Vocab)
	fused := forwardAll(t, m, prompt)
	m.b = struct { // hides MatMulMany
		compute.Backend
		headPermuter
	}{m.b, m.b.(headPermuter)}
	if d := compare(forwardAll(t, m, prompt), fused); d.max != 0 {
		t.Errorf("fused projections differ from one MatMul each by %v", d)
	}
}
