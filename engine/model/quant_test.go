package model

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/compute/cpu"
	"github.com/graft-ai/graft/engine/float16"
	"github.com/graft-ai/graft/engine/gguf"
	"github.com/graft-ai/graft/engine/randmodel"
	"github.com/graft-ai/graft/engine/safetensors"
)

// llamaQuantize writes llama.cpp's quantization of the GGUF file in to a
// new file, with llama_model_quantize from node-llama-cpp's libllama
// (installed by npm ci --omit=optional in bench/llamacpp); it skips the
// test when that is not installed.
func llamaQuantize(t *testing.T, in string, ftype int) string {
	t.Helper()
	lib, _ := filepath.Abs("../../bench/llamacpp/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libllama.v0.4.0.so")
	if _, err := os.Stat(lib); err != nil {
		t.Skipf("llama.cpp's quantizer is not installed (%v): run npm ci --omit=optional in bench/llamacpp", err)
	}
	out := filepath.Join(t.TempDir(), "q.gguf")
	cmd := exec.Command("/usr/bin/python3", "../benchmark/llama_quantize.py", lib, in, out, strconv(ftype))
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("llama_model_quantize to ftype %d: %v\n%s", ftype, err, msg)
	}
	return out
}

func strconv(i int) string { return string(rune('0'+i/10)) + string(rune('0'+i%10)) }

// quantSpec has every matrix dimension a multiple of 256, so llama.cpp's K-quant
// file types use K-quants rather than falling back to 32-value blocks.
func quantSpec() randmodel.Spec {
	return randmodel.Spec{
		Arch: randmodel.Llama, Dim: 256, Layers: 2, Heads: 4, KVHeads: 2, FFN: 512, Vocab: 512,
		MaxPositions: 256, RopeTheta: 10000, Tied: false, Seed: 11, InitStd: 0.0625,
	}
}

// TestQuantizedWeights quantizes one random model with llama.cpp into every
// file type Graft computes with directly, loads each file with its matrices
// kept in their stored format, and compares the logits of a 40-token prompt
// with a float64 forward pass over the file's dequantized weights: the
// kernels decode the weights exactly and keep float32 activations, so the
// reference tolerance holds for every type.
func TestQuantizedWeights(t *testing.T) {
	s := quantSpec()
	w := s.Weights()
	f32 := writeGGUF(t, s, w, "F32")
	prompt := testPrompt(s.Seed, 40, s.Vocab)
	ftypes := []struct {
		name  string
		ftype int
	}{
		{"F16", 1}, {"BF16", 32}, {"Q8_0", 7}, {"Q4_0", 2}, {"Q4_1", 3}, {"Q5_0", 8}, {"Q5_1", 9},
		{"Q2_K", 10}, {"Q3_K_M", 12}, {"Q4_K_M", 15}, {"Q5_K_M", 17}, {"Q6_K", 18},
	}
	seen := map[gguf.Type]bool{}
	ran := 0
	for _, ft := range ftypes {
		t.Run(ft.name, func(t *testing.T) {
			m, f := openGGUFModel(t, llamaQuantize(t, f32, ft.ftype))
			ran++
			types := storedTypes(m)
			for _, typ := range types {
				if typ == gguf.TypeF32 {
					t.Fatalf("a %s weight matrix was widened to F32 (stored: %v)", ft.name, types)
				}
				seen[typ] = true
			}
			got := forwardAll(t, m, prompt)
			want := newRef(s, dequantized(t, f, s)).forward(prompt)
			d := compare(got, want)
			if d.max > refTol {
				t.Errorf("%s logits differ from the float64 reference by %v (tolerance %g)", ft.name, d, refTol)
			}
			t.Logf("%s (stored %v): max difference %v", ft.name, types, d)
		})
	}
	if ran == 0 {
		t.Skip("no quantized file could be made (see the subtests); make test installs llama.cpp's quantizer")
	}
	for _, typ := range []gguf.Type{gguf.TypeF16, gguf.TypeBF16, gguf.TypeQ4_0, gguf.TypeQ4_1, gguf.TypeQ5_0,
		gguf.TypeQ5_1, gguf.TypeQ8_0, gguf.TypeQ2_K, gguf.TypeQ3_K, gguf.TypeQ4_K, gguf.TypeQ5_K, gguf.TypeQ6_K} {
		if !seen[typ] && !t.Failed() && !t.Skipped() {
			t.Errorf("no file kept a %s matrix", typ)
		}
	}
}

// storedTypes lists the formats the model's weight matrices are kept in.
func storedTypes(m *Model) []gguf.Type {
	var out []gguf.Type
	add := func(mat compute.Matrix) {
		typ := mat.(*cpu.Matrix).Stored()
		for _, o := range out {
			if o == typ {
				return
			}
		}
		out = append(out, typ)
	}
	add(m.Embed)
	add(m.Output)
	for _, ly := range m.Layers {
		for _, l := range []*Linear{ly.Q, ly.K, ly.V, ly.O, ly.Gate, ly.Up, ly.Down} {
			add(l.W)
		}
	}
	return out
}

// TestUnsupportedQuantType: a file with IQ4_NL matrices fails to load with
// an error naming the type and the tensor.
func TestUnsupportedQuantType(t *testing.T) {
	s := quantSpec()
	path := llamaQuantize(t, writeGGUF(t, s, s.Weights(), "F32"), 25)
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := cpu.New(1)
	defer b.Close()
	_, err = LoadGGUF(f, b)
	if err == nil || !strings.Contains(err.Error(), "IQ4_NL") || !strings.Contains(err.Error(), "tensor ") {
		t.Fatalf("loading an IQ4_NL file: %v; want an error naming IQ4_NL and the tensor", err)
	}
	t.Logf("error: %v", err)
}

// TestQuantizeOnLoad: an F32 or BF16 safetensors model loaded with
// Quantize Q8_0 or Q4_K keeps every matrix in that format, and its logits are
// within the reference tolerance of a float64 forward pass over the weights
// quantized and dequantized by the same (ggml-identical) encoders.
func TestQuantizeOnLoad(t *testing.T) {
	s := quantSpec()
	w := s.Weights()
	prompt := testPrompt(s.Seed, 24, s.Vocab)
	b := cpu.New(0)
	defer b.Close()
	for _, dtype := range []string{"F32", "BF16"} {
		dir := writeHF(t, s, w, dtype, 1)
		for _, name := range []string{"q8_0", "Q4_K"} {
			t.Run(dtype+"/"+name, func(t *testing.T) {
				q, err := ParseQuantize(name)
				if err != nil {
					t.Fatal(err)
				}
				st, err := safetensors.OpenModel(dir)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				m, err := LoadHFWith(dir, st, b, LoadOptions{Quantize: q})
				if err != nil {
					t.Fatal(err)
				}
				if types := storedTypes(m); len(types) != 1 || types[0] != q {
					t.Fatalf("matrices kept as %v, want all %s", types, q)
				}
				ref := map[string][]float32{}
				for _, ti := range s.Tensors() {
					v := w[ti.Name]
					if dtype == "BF16" {
						v = roundBF16(v)
					}
					if len(ti.Shape) == 2 {
						v = roundTrip(t, q, v)
					}
					ref[ti.Name] = v
				}
				got := forwardAll(t, m, prompt)
				want := newRef(s, ref).forward(prompt)
				if d := compare(got, want); d.max > refTol {
					t.Errorf("logits differ from the float64 reference by %v (tolerance %g)", d, refTol)
				}
			})
		}
	}
	if _, err := ParseQuantize("q3_k"); err == nil || !strings.Contains(err.Error(), "q3_k") {
		t.Errorf("ParseQuantize(q3_k) = %v, want an error naming it", err)
	}
}

func roundTrip(t *testing.T, q gguf.Type, v []float32) []float32 {
	raw := make([]byte, len(v)/q.BlockSize()*q.BlockBytes())
	quantizers[q](raw, v)
	out := make([]float32, len(v))
	if err := gguf.Dequantize(q, out, raw); err != nil {
		t.Fatal(err)
	}
	return out
}

func roundBF16(v []float32) []float32 {
	h := make([]uint16, len(v))
	float16.F32ToBF16(h, v)
	out := make([]float32, len(v))
	float16.BF16ToF32(out, h)
	return out
}
