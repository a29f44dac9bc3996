// Package lora turns a Hugging Face PEFT LoRA adapter (adapter_config.json and
// adapter_model.safetensors, read and checked by internal/peft) into per-layer,
// per-projection weights with their scales, checked against a base model.
// Everything is checked before any weight is read, and errors name the
// adapter's files relative to its folder, never a server path, because they
// reach whoever asked for the adapter.
package lora

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/graft-ai/graft/engine/mapped"
	"github.com/graft-ai/graft/engine/model"
	"github.com/graft-ai/graft/engine/safetensors"
	"github.com/graft-ai/graft/internal/peft"
)

// Adapter is a checked adapter in host memory, ready for an engine slot.
type Adapter struct {
	Config *peft.Config
	// Weights is [layer][module]; nil where the adapter does not touch it.
	Weights   [][model.NumModules]*model.HostLoRA
	Rank      int      // the largest rank of any module
	Modules   []string // targeted module names, in model order
	SizeBytes int64
}

var tensorName = regexp.MustCompile(`^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_([AB])(?:\.default)?\.weight$`)

// Load reads a PEFT adapter directory and checks it fits base with ranks of at
// most maxRank: the config, then the weights file's header and every tensor's
// name and shape, and only then the weights.
func Load(dir string, base *model.Config, maxRank int) (*Adapter, error) {
	cfg, err := peft.ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	if err := cfg.CheckTargets(moduleNames(base)); err != nil {
		return nil, err
	}
	if _, err := peft.CheckWeightsFile(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, binErr := os.Stat(filepath.Join(dir, "adapter_model.bin")); binErr == nil {
				return nil, fmt.Errorf("%s is missing: a pickled adapter_model.bin is not loaded, for safety; convert it to safetensors", peft.WeightsFile)
			}
		}
		return nil, err
	}
	st, closeFile, err := openWeights(dir)
	if err != nil {
		return nil, err
	}
	defer closeFile()
	a, err := build(cfg, st, base, maxRank)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", peft.WeightsFile, err)
	}
	return a, nil
}

// openWeights maps and parses the weights file itself, rather than through
// safetensors.Open, whose errors carry the file's path.
func openWeights(dir string) (*safetensors.File, func(), error) {
	m, err := mapped.Open(filepath.Join(dir, peft.WeightsFile))
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, nil, fmt.Errorf("%s cannot be read: %v", peft.WeightsFile, err)
	}
	st, err := safetensors.Parse(m.Data)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("%s is not a valid safetensors file: %s", peft.WeightsFile, strings.TrimPrefix(err.Error(), safetensors.ErrFormat.Error()+": "))
	}
	return st, func() { m.Close() }, nil
}

// moduleNames lists the base model's modules by their full PEFT names.
func moduleNames(base *model.Config) []string {
	names := []string{"model.embed_tokens", "lm_head"}
	for l := range base.Layers {
		for m := range model.NumModules {
			names = append(names, fullName(l, m))
		}
	}
	return names
}

type pair struct{ a, b *safetensors.Tensor }

func build(cfg *peft.Config, st *safetensors.File, base *model.Config, maxRank int) (*Adapter, error) {
	pairs, err := checkAll(cfg, st, base, maxRank)
	if err != nil {
		return nil, err
	}
	a := &Adapter{Config: cfg, Weights: make([][model.NumModules]*model.HostLoRA, base.Layers)}
	seen := [model.NumModules]bool{}
	for key, p := range pairs {
		layer, mod := key[0], key[1]
		h, err := readPair(st, p)
		if err != nil {
			return nil, err
		}
		h.Rank, h.Scale = cfg.Scale(fullName(layer, mod))
		a.Weights[layer][mod] = h
		a.Rank = max(a.Rank, h.Rank)
		a.SizeBytes += int64(4 * (len(h.A) + len(h.B)))
		seen[mod] = true
	}
	for mod, ok := range seen {
		if ok {
			a.Modules = append(a.Modules, model.ModuleNames[mod])
		}
	}
	return a, nil
}

// checkAll checks every tensor's name, target and shape from the header alone,
// and pairs each module's lora_A with its lora_B.
func checkAll(cfg *peft.Config, st *safetensors.File, base *model.Config, maxRank int) (map[[2]int]*pair, error) {
	pairs := map[[2]int]*pair{}
	for i := range st.Tensors() {
		t := &st.Tensors()[i]
		layer, mod, isA, err := parseName(t.Name, base.Layers)
		if err != nil {
			return nil, err
		}
		if err := checkTensor(t, cfg, base, layer, mod, isA, maxRank); err != nil {
			return nil, err
		}
		p := pairs[[2]int{layer, mod}]
		if p == nil {
			p = &pair{}
			pairs[[2]int{layer, mod}] = p
		}
		if isA {
			p.a = t
		} else {
			p.b = t
		}
	}
	if len(pairs) == 0 {
		return nil, errors.New("holds no LoRA tensors")
	}
	for key, p := range pairs {
		if p.a == nil || p.b == nil {
			return nil, fmt.Errorf("%s: lora_A and lora_B must both be present", fullName(key[0], key[1]))
		}
	}
	return pairs, nil
}

// readPair copies a module's weights out of the file (its memory map closes)
// and refuses NaN and Inf, which would poison every row the adapter serves.
// The copies are the HostLoRA's own, outside the Go heap (mapped.OffHeap):
// an engine keeps up to MaxCachedAdapters (64) adapters parsed in float32,
// 160 MB each for a rank-16 adapter of every projection of a 7B model, and
// on the heap they would let as much garbage pile up before a collection.
// Whoever keeps A or B past the HostLoRA must copy them.
func readPair(st *safetensors.File, p *pair) (*model.HostLoRA, error) {
	h := &model.HostLoRA{}
	var out [2][]float32
	for i, t := range []*safetensors.Tensor{p.a, p.b} {
		data, _, err := st.Float32(t.Name)
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %v", t.Name, err)
		}
		for _, v := range data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("tensor %s holds NaN or Inf", t.Name)
			}
		}
		out[i] = mapped.OffHeap[float32](h, len(data))
		copy(out[i], data)
	}
	h.A, h.B = out[0], out[1]
	return h, nil
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

func checkTensor(t *safetensors.Tensor, cfg *peft.Config, base *model.Config, layer, mod int, isA bool, maxRank int) error {
	full := fullName(layer, mod)
	if !cfg.Targets(full) {
		return fmt.Errorf("tensor %s: module %s is not in target_modules", t.Name, full)
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
	if len(t.Shape) != 2 || t.Shape[0] != want[0] || t.Shape[1] != want[1] {
		return fmt.Errorf("tensor %s has shape %v, want %v: the adapter does not fit this base model (hidden %d, intermediate %d, rank %d)", t.Name, t.Shape, want, base.Dim, base.FFN, rank)
	}
	return nil
}
