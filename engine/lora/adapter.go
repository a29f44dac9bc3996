package lora

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/graft-ai/graft/engine/model"
	"github.com/graft-ai/graft/engine/safetensors"
)

// Adapter is a checked adapter in host memory, ready for an engine slot.
type Adapter struct {
	Config *Config
	// Weights is [layer][module]; nil where the adapter does not touch it.
	Weights   [][model.NumModules]*model.HostLoRA
	Rank      int      // the largest rank of any module
	Modules   []string // targeted module names, in model order
	SizeBytes int64
}

var tensorName = regexp.MustCompile(`^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_([AB])(?:\.default)?\.weight$`)

// Load reads a PEFT adapter directory and checks it fits base with ranks of at
// most maxRank.
func Load(dir string, base *model.Config, maxRank int) (*Adapter, error) {
	cfgData, err := os.ReadFile(filepath.Join(dir, "adapter_config.json"))
	if err != nil {
		return nil, err
	}
	cfg, err := ParseConfig(cfgData)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "adapter_model.safetensors")
	st, err := safetensors.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if _, binErr := os.Stat(filepath.Join(dir, "adapter_model.bin")); binErr == nil {
				return nil, fmt.Errorf("%s: only adapter_model.safetensors is supported (pickled adapter_model.bin is not loaded for safety)", dir)
			}
		}
		return nil, err
	}
	defer st.Close()
	a, err := build(cfg, st, base, maxRank)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return a, nil
}

type pair struct{ a, b []float32 }

func build(cfg *Config, st *safetensors.File, base *model.Config, maxRank int) (*Adapter, error) {
	pairs := map[[2]int]*pair{}
	for _, t := range st.Tensors() {
		layer, mod, isA, err := parseName(t.Name, base.Layers)
		if err != nil {
			return nil, err
		}
		data, shape, err := st.Float32(t.Name)
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		if err := checkTensor(t.Name, data, shape, cfg, base, layer, mod, isA, maxRank); err != nil {
			return nil, err
		}
		p := pairs[[2]int{layer, mod}]
		if p == nil {
			p = &pair{}
			pairs[[2]int{layer, mod}] = p
		}
		if isA {
			p.a = append([]float32(nil), data...) // copy: st's memory map closes
		} else {
			p.b = append([]float32(nil), data...)
		}
	}
	if len(pairs) == 0 {
		return nil, errors.New("adapter_model.safetensors holds no LoRA tensors")
	}
	a := &Adapter{Config: cfg, Weights: make([][model.NumModules]*model.HostLoRA, base.Layers)}
	seen := [model.NumModules]bool{}
	for key, p := range pairs {
		layer, mod := key[0], key[1]
		full := fullName(layer, mod)
		if p.a == nil || p.b == nil {
			return nil, fmt.Errorf("%s: lora_A and lora_B must both be present", full)
		}
		rank, scale := cfg.Scale(full)
		a.Weights[layer][mod] = &model.HostLoRA{A: p.a, B: p.b, Rank: rank, Scale: scale}
		a.Rank = max(a.Rank, rank)
		a.SizeBytes += int64(4 * (len(p.a) + len(p.b)))
		seen[mod] = true
	}
	for mod, ok := range seen {
		if ok {
			a.Modules = append(a.Modules, model.ModuleNames[mod])
		}
	}
	return a, nil
}

func fullName(layer, mod int) string {
	part := "self_attn"
	if mod >= model.ModGate {
		part = "mlp"
	}
	return "model.layers." + strconv.Itoa(layer) + "." + part + "." + model.ModuleNames[mod]
}

// parseName maps a PEFT tensor name to (layer, module, A or B), rejecting the
// LoRA variants Graft does not run by name.
func parseName(name string, layers int) (layer, mod int, isA bool, err error) {
	m := tensorName.FindStringSubmatch(name)
	if m == nil {
		return 0, 0, false, fmt.Errorf("tensor %s: not a supported LoRA weight (embedding LoRA, lm_head, biases and magnitude vectors are not supported)", name)
	}
	layer, err = strconv.Atoi(m[1])
	if err != nil || layer >= layers {
		return 0, 0, false, fmt.Errorf("tensor %s: layer %s does not exist in the base model (%d layers)", name, m[1], layers)
	}
	mod = -1
	for i, n := range model.ModuleNames {
		if n == m[3] {
			mod = i
		}
	}
	if mod < 0 || (mod >= model.ModGate) != (m[2] == "mlp") {
		return 0, 0, false, fmt.Errorf("tensor %s: module %s.%s is not a supported target (q/k/v/o_proj, gate/up/down_proj)", name, m[2], m[3])
	}
	return layer, mod, m[4] == "A", nil
}

func checkTensor(name string, data []float32, shape []int, cfg *Config, base *model.Config, layer, mod int, isA bool, maxRank int) error {
	full := fullName(layer, mod)
	if !cfg.Targets(full) {
		return fmt.Errorf("tensor %s: module %s is not in target_modules", name, full)
	}
	rank, _ := cfg.Scale(full)
	if rank > maxRank {
		return fmt.Errorf("%s: rank %d is above the maximum adapter rank %d (--max-lora-rank)", full, rank, maxRank)
	}
	out, in := base.ModuleShape(mod)
	want := []int{out, rank}
	if isA {
		want = []int{rank, in}
	}
	if len(shape) != 2 || shape[0] != want[0] || shape[1] != want[1] {
		return fmt.Errorf("tensor %s has shape %v, want %v: the adapter does not fit this base model (hidden %d, intermediate %d, rank %d)", name, shape, want, base.Dim, base.FFN, rank)
	}
	for _, v := range data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("tensor %s holds NaN or Inf", name)
		}
	}
	return nil
}
