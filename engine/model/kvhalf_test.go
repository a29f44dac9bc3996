package model

import (
	"strings"
	"testing"

	"github.com/graft-ai/graft/engine/compute/cpu"
	"github.com/graft-ai/graft/engine/gguf"
)

// Tolerances of a model run with a half KV cache, on these models' logits
// (magnitude about 1-4). Against the float64 reference, which keeps K and V
// exact: rounding each to half moves it by up to 2^-11 of itself, seen as
// about 2e-3 on the logits. Against the reference that rounds K and V to half
// too: the float32 arithmetic (refTol) plus the few values whose float32 and
// float64 forms straddle a rounding midpoint and so round to neighbouring
// halves, seen as up to 2e-4. A cache that mixed up positions, heads or
// blocks would be off by order 1.
const (
	halfKVTol        = 5e-3
	halfKVRoundedTol = 5e-4
)

// TestKVCacheDtypeResolves: auto is f32 whatever the weights; explicit types
// stand; an unknown name, and f16 on a backend without half caches, are
// errors that say so.
func TestKVCacheDtypeResolves(t *testing.T) {
	s := baseSpec()
	for _, c := range []struct{ file, want string }{{"F32", KVF32}, {"F16", KVF32}, {"BF16", KVF32}, {"Q8_0", KVF32}} {
		m, _ := openGGUFModel(t, writeGGUF(t, s, s.Weights(), c.file))
		for _, in := range []string{"", KVAuto} {
			if got, err := m.KVCacheDtype(in); err != nil || got != c.want {
				t.Errorf("%s weights, %q: %q, %v; want %q", c.file, in, got, err, c.want)
			}
		}
		for _, in := range []string{KVF32, KVF16} {
			if got, err := m.KVCacheDtype(in); err != nil || got != in {
				t.Errorf("%s weights, %q: %q, %v", c.file, in, got, err)
			}
		}
		if _, err := m.KVCacheDtype("fp8"); err == nil || !strings.Contains(err.Error(), `"fp8"`) {
			t.Errorf("fp8: error %v, want one naming the type", err)
		}
	}
	b := cpu.New(1)
	defer b.Close()
	f, err := gguf.Open(writeGGUF(t, s, s.Weights(), "BF16"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := LoadGGUF(f, wideBackend{b})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := m.KVCacheDtype(KVAuto); err != nil || got != KVF32 {
		t.Errorf("auto on a backend without half caches: %q, %v; want f32", got, err)
	}
	if _, err := m.KVCacheDtype(KVF16); err == nil || !strings.Contains(err.Error(), "no half-precision KV cache") {
		t.Errorf("f16 on a backend without half caches: error %v", err)
	}
}

// TestHalfKVCacheMatchesReference runs half, quantized and (when llama.cpp's
// quantizer is installed) K-quant models with a half KV cache against the
// float64 forward pass over their dequantized weights, prompt at once and
// one token at a time; both must give the same bits (batch invariance).
func TestHalfKVCacheMatchesReference(t *testing.T) {
	s := quantSpec()
	w := s.Weights()
	prompt := testPrompt(s.Seed, 40, s.Vocab)
	files := map[string]func(t *testing.T) string{
		"F16":    func(t *testing.T) string { return writeGGUF(t, s, w, "F16") },
		"Q8_0":   func(t *testing.T) string { return writeGGUF(t, s, w, "Q8_0") },
		"Q4_K_M": func(t *testing.T) string { return llamaQuantize(t, writeGGUF(t, s, w, "F32"), 15) },
	}
	for name, file := range files {
		t.Run(name, func(t *testing.T) {
			m, f := openGGUFModel(t, file(t))
			got := forwardChunksKV(t, m, KVF16, prompt, len(prompt))
			if d := compare(got, forwardChunksKV(t, m, KVF16, prompt, 1)); d.max != 0 {
				t.Errorf("prefill vs decode one token at a time with a half cache: %v", d)
			}
			ref := newRef(s, dequantized(t, f, s))
			d := compare(got, ref.forward(prompt))
			ref.halfKV = true
			dr := compare(got, ref.forward(prompt))
			t.Logf("%s with a half KV cache: %v from float64, %v from float64 on K/V rounded to half", name, d, dr)
			if d.max > halfKVTol {
				t.Errorf("%s with a half KV cache differs from the float64 reference by %v (tolerance %g)", name, d, halfKVTol)
			}
			if dr.max > halfKVRoundedTol {
				t.Errorf("%s with a half KV cache differs from the float64 reference on rounded K/V by %v (tolerance %g)", name, dr, halfKVRoundedTol)
			}
		})
	}
}

// TestHalfKVDecodeStepDoesNotAllocate: a decode step over a half cache
// allocates nothing once warm (the widening scratch is per worker, sized once).
func TestHalfKVDecodeStepDoesNotAllocate(t *testing.T) {
	s := baseSpec()
	for _, dtype := range []string{"F32", "Q8_0"} {
		m, _ := openGGUFModel(t, writeGGUF(t, s, s.Weights(), dtype))
		checkDecodeStepAllocatesNothingIn(t, m, m.NewKVCacheOf(KVF16, 8, 16), dtype+" weights, f16 KV")
	}
}
