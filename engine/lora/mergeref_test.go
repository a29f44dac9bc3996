package lora_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/graft-ai/graft/engine/lora"
	"github.com/graft-ai/graft/engine/model"
	"github.com/graft-ai/graft/engine/randmodel"
	"github.com/graft-ai/graft/engine/safetensors"
)

// refPython is the interpreter the numpy reference runs under: Debian's, which
// has numpy when python3-numpy is installed (the first python3 on PATH may not).
const refPython = "/usr/bin/python3"

// mergeAdapters are PEFT adapters on mergeBase for the merge checks: two of
// rank 8 (one rsLoRA, different targets) and one of rank 4.
var mergeAdapters = []randmodel.AdapterSpec{
	{Rank: 8, Alpha: 16, Targets: randmodel.AdapterModules, Seed: 21},
	{Rank: 8, Alpha: 8, RSLoRA: true, Targets: []string{"q_proj", "v_proj", "o_proj", "down_proj"}, Seed: 22},
	{Rank: 4, Alpha: 12, Targets: []string{"q_proj", "gate_proj", "up_proj", "down_proj"}, Seed: 23},
}

type mergeCase struct {
	adapters []int
	spec     lora.MergeSpec
}

var mergeRefCases = map[string]mergeCase{
	"linear":              {[]int{0, 1}, lora.MergeSpec{Weights: []float64{0.7, 1.3}, Strategy: lora.MergeLinear, Density: 1, MajoritySign: lora.SignTotal}},
	"ties-total":          {[]int{0, 1}, lora.MergeSpec{Weights: []float64{1, 0.5}, Strategy: lora.MergeTIES, Density: 0.5, MajoritySign: lora.SignTotal}},
	"ties-frequency":      {[]int{0, 1, 2}, lora.MergeSpec{Weights: []float64{0.4, 0.9, 1.5}, Strategy: lora.MergeTIES, Density: 0.3, MajoritySign: lora.SignFrequency}},
	"dare_linear":         {[]int{0, 1}, lora.MergeSpec{Weights: []float64{0.6, 0.8}, Strategy: lora.MergeDARELinear, Density: 0.5, MajoritySign: lora.SignTotal, Seed: 7}},
	"dare_ties-total":     {[]int{0, 1, 2}, lora.MergeSpec{Weights: []float64{1, 1, 1}, Strategy: lora.MergeDARETIES, Density: 0.7, MajoritySign: lora.SignTotal, Seed: 8}},
	"dare_ties-frequency": {[]int{1, 0}, lora.MergeSpec{Weights: []float64{2, 0.25}, Strategy: lora.MergeDARETIES, Density: 0.4, MajoritySign: lora.SignFrequency, Seed: 1 << 63}},
	"linear-unequal-rank": {[]int{0, 2}, lora.MergeSpec{Weights: []float64{1, 1}, Strategy: lora.MergeLinear, Density: 1, MajoritySign: lora.SignTotal}},
}

// TestMergeMatchesNumpyReference: every strategy and sign method gives, module
// by module, the factors an independent numpy implementation of PEFT's
// add_weighted_adapter computes from the same adapter files.
func TestMergeMatchesNumpyReference(t *testing.T) {
	if err := exec.Command(refPython, "-c", "import numpy").Run(); err != nil {
		t.Skipf("the numpy reference needs %s with numpy (apt-get install python3-numpy): %v", refPython, err)
	}
	dir := t.TempDir()
	cfg := mergeBaseConfig(t, dir)
	dirs := make([]string, len(mergeAdapters))
	loaded := make([]*lora.Adapter, len(mergeAdapters))
	for i, a := range mergeAdapters {
		dirs[i] = filepath.Join(dir, fmt.Sprintf("a%d", i))
		if err := randmodel.WriteAdapter(dirs[i], mergeBase, a); err != nil {
			t.Fatal(err)
		}
		var err error
		if loaded[i], err = lora.Load(dirs[i], cfg, 64); err != nil {
			t.Fatal(err)
		}
	}
	for name, c := range mergeRefCases {
		t.Run(name, func(t *testing.T) {
			var in []*lora.Adapter
			var inDirs []string
			for _, i := range c.adapters {
				in, inDirs = append(in, loaded[i]), append(inDirs, dirs[i])
			}
			got, err := lora.Merge(in, c.spec)
			if err != nil {
				t.Fatal(err)
			}
			compareReference(t, got, runReference(t, filepath.Join(dir, name), inDirs, c.spec))
		})
	}
}

func mergeBaseConfig(t *testing.T, dir string) *model.Config {
	t.Helper()
	hf := filepath.Join(dir, "base-hf")
	if err := randmodel.WriteHF(hf, mergeBase, "F32", 1); err != nil {
		t.Fatal(err)
	}
	c, err := model.ReadHFConfig(filepath.Join(hf, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func runReference(t *testing.T, prefix string, dirs []string, s lora.MergeSpec) *safetensors.File {
	t.Helper()
	spec, err := json.Marshal(map[string]any{"adapters": dirs, "weights": s.Weights, "strategy": s.Strategy,
		"density": s.Density, "majority_sign": s.MajoritySign, "seed": s.Seed, "layers": mergeBase.Layers})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prefix+".json", spec, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(refPython, filepath.Join("testdata", "merge_ref.py"), prefix+".json", prefix+".safetensors").CombinedOutput()
	if err != nil {
		t.Fatalf("numpy reference: %v\n%s", err, out)
	}
	data, err := os.ReadFile(prefix + ".safetensors")
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// compareReference checks each merged factor against the reference within
// float32 rounding of sums of a few terms, and that both merged the same modules.
func compareReference(t *testing.T, got *lora.Adapter, ref *safetensors.File) {
	t.Helper()
	seen := 0
	for layer := range got.Weights {
		for mod, h := range got.Weights[layer] {
			if h == nil {
				continue
			}
			if h.Scale != 1 {
				t.Errorf("layer %d %s: merged scale %v, want 1", layer, model.ModuleNames[mod], h.Scale)
			}
			for ab, mine := range map[string][]float32{"A": h.A, "B": h.B} {
				name := fmt.Sprintf("layers.%d.%s.%s", layer, model.ModuleNames[mod], ab)
				want, _, err := ref.Float32(name)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				seen++
				compareFactor(t, name, mine, want)
			}
		}
	}
	if seen != len(ref.Tensors()) {
		t.Fatalf("merged %d factors, the reference %d", seen, len(ref.Tensors()))
	}
}

func compareFactor(t *testing.T, name string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, reference %d", name, len(got), len(want))
	}
	scale, nonzero := 0.0, 0
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
		if v != 0 {
			nonzero++
		}
	}
	if nonzero == 0 {
		t.Fatalf("%s: the reference is all zeros", name)
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - float64(want[i])); d > 1e-5*scale {
			t.Fatalf("%s[%d] = %v, reference %v (scale %v)", name, i, got[i], want[i], scale)
		}
	}
}

// TestDAREIsSeeded: DARE's pruning is a function of the seed: the same seed
// merges bit for bit the same, another seed differently, and about density
// of the entries survive.
func TestDAREIsSeeded(t *testing.T) {
	dir := t.TempDir()
	cfg := mergeBaseConfig(t, dir)
	var in []*lora.Adapter
	for i, a := range mergeAdapters[:2] {
		d := filepath.Join(dir, fmt.Sprintf("a%d", i))
		if err := randmodel.WriteAdapter(d, mergeBase, a); err != nil {
			t.Fatal(err)
		}
		l, err := lora.Load(d, cfg, 64)
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, l)
	}
	spec := lora.MergeSpec{Weights: []float64{1, 1}, Strategy: lora.MergeDARELinear, Density: 0.25, MajoritySign: lora.SignTotal, Seed: 42}
	merge := func(s lora.MergeSpec) *model.HostLoRA {
		m, err := lora.Merge(in, s)
		if err != nil {
			t.Fatal(err)
		}
		return m.Weights[0][model.ModK] // only adapter 0 targets k_proj
	}
	a, b := merge(spec), merge(spec)
	spec.Seed = 43
	c := merge(spec)
	same, diff, kept := true, false, 0
	for i := range a.A {
		same = same && a.A[i] == b.A[i]
		diff = diff || a.A[i] != c.A[i]
		if a.A[i] != 0 {
			kept++
		}
	}
	if !same || !diff {
		t.Fatalf("same seed equal: %v, other seed different: %v", same, diff)
	}
	if frac := float64(kept) / float64(len(a.A)); frac < 0.2 || frac > 0.3 {
		t.Fatalf("kept %.3f of the entries at density 0.25", frac)
	}
}

func TestMergeSpecChecks(t *testing.T) {
	ok := lora.MergeSpec{Weights: []float64{1, 2}, Strategy: lora.MergeTIES, Density: 0.5, MajoritySign: lora.SignTotal}
	for field, edit := range map[string]func(*lora.MergeSpec){
		"weights":              func(s *lora.MergeSpec) { s.Weights = []float64{1} },
		"merge_strategy":       func(s *lora.MergeSpec) { s.Strategy = "svd" },
		"density":              func(s *lora.MergeSpec) { s.Density = 0 },
		"majority_sign_method": func(s *lora.MergeSpec) { s.MajoritySign = "mean" },
	} {
		s := ok
		edit(&s)
		if got, err := s.Check(2); got != field || err == nil {
			t.Errorf("%s: Check blamed %q (%v)", field, got, err)
		}
	}
	neg := ok
	neg.Weights = []float64{1, -1}
	if got, _ := neg.Check(2); got != "weights" {
		t.Errorf("a negative weight: Check blamed %q", got)
	}
	if got, err := ok.Check(2); got != "" || err != nil {
		t.Errorf("valid spec refused: %s %v", got, err)
	}
}
