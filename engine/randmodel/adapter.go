package randmodel

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/graft-ai/graft/engine/float16"
	"github.com/graft-ai/graft/engine/safetensors"
)

// AdapterModules are the projections a LoRA adapter can target, in model order.
var AdapterModules = []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}

// DefaultRho is the size of an adapter's delta relative to the base weight when
// AdapterSpec.Rho is 0: enough to change greedy text, small enough to keep it
// close to the base model's.
const DefaultRho = 0.15

// AdapterSpec is a seeded random PEFT LoRA adapter for a base Spec.
type AdapterSpec struct {
	Rank         int
	Alpha        float64
	RSLoRA       bool
	Targets      []string // module names, as PEFT's target_modules list
	TargetRegex  string   // used instead of Targets when set; matched against the whole module name
	RankPattern  map[string]int
	AlphaPattern map[string]float64
	Seed         uint64
	// Rho is ||scale·B@A|| / ||W|| per module, roughly; 0 means DefaultRho.
	Rho float64
	// BF16 writes the weights in bfloat16, as PEFT saves an adapter trained
	// on a bfloat16 model (rounded to nearest even); else float32.
	BF16 bool
}

// AdapterModule is one targeted projection's weights in the PEFT layout.
type AdapterModule struct {
	A       []float32 // [Rank, In]
	B       []float32 // [Out, Rank]
	Rank    int
	In, Out int
	Scale   float64 // alpha/rank, or alpha/sqrt(rank) with rsLoRA
}

// AdapterWeights returns the adapter's modules keyed by full module name
// ("model.layers.3.self_attn.q_proj"); its delta is Scale·B@A added to the
// module's ".weight". A is N(0,1)/sqrt(in) and B is scaled so that the delta's
// norm is about Rho times the base weight's, as the stories260K adapters are made.
func AdapterWeights(base Spec, a AdapterSpec) (map[string]AdapterModule, error) {
	if err := base.Validate(); err != nil {
		return nil, err
	}
	targets, err := a.targeter()
	if err != nil {
		return nil, err
	}
	ranks, alphas := patterns(a.RankPattern), patterns(a.AlphaPattern)
	if err := firstErr(ranks.err, alphas.err); err != nil {
		return nil, err
	}
	out := map[string]AdapterModule{}
	for _, t := range base.Tensors() {
		name, ok := strings.CutSuffix(t.Name, ".weight")
		if !ok || !strings.HasPrefix(name, "model.layers.") || !isModule(name) || !targets(name) {
			continue
		}
		rank, alpha := a.Rank, a.Alpha
		if k := ranks.match(name); k != "" {
			rank = a.RankPattern[k]
		}
		if k := alphas.match(name); k != "" {
			alpha = a.AlphaPattern[k]
		}
		if rank <= 0 || alpha == 0 {
			return nil, fmt.Errorf("randmodel: %s: rank %d and alpha %v must be positive and non-zero", name, rank, alpha)
		}
		m := AdapterModule{Rank: rank, Out: t.Shape[0], In: t.Shape[1], Scale: alpha / float64(rank)}
		if a.RSLoRA {
			m.Scale = alpha / math.Sqrt(float64(rank))
		}
		a.fill(base, name, &m)
		if a.BF16 {
			// The values the file holds.
			roundBF16(m.A)
			roundBF16(m.B)
		}
		out[name] = m
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("randmodel: the adapter targets no module of the model")
	}
	return out, nil
}

func (a AdapterSpec) fill(base Spec, name string, m *AdapterModule) {
	h := fnv.New64a()
	h.Write([]byte(name))
	r := rand.New(rand.NewPCG(a.Seed, h.Sum64()))
	rho := a.Rho
	if rho == 0 {
		rho = DefaultRho
	}
	m.A = make([]float32, m.Rank*m.In)
	for i := range m.A {
		m.A[i] = float32(r.NormFloat64() / math.Sqrt(float64(m.In)))
	}
	bStd := rho * base.std() * math.Sqrt(float64(m.In)) / (math.Abs(m.Scale) * math.Sqrt(float64(m.Rank)))
	m.B = make([]float32, m.Out*m.Rank)
	for i := range m.B {
		m.B[i] = float32(r.NormFloat64() * bStd)
	}
}

func isModule(name string) bool {
	return slices.ContainsFunc(AdapterModules, func(m string) bool { return strings.HasSuffix(name, "."+m) })
}

// targeter mirrors PEFT: a list matches a module name equal to an entry or
// ending in "."+entry; a regex string must match the whole name.
func (a AdapterSpec) targeter() (func(string) bool, error) {
	if a.TargetRegex != "" {
		re, err := regexp.Compile(`^(?:` + a.TargetRegex + `)$`)
		if err != nil {
			return nil, fmt.Errorf("randmodel: target regex: %w", err)
		}
		return re.MatchString, nil
	}
	if len(a.Targets) == 0 {
		return nil, fmt.Errorf("randmodel: the adapter has no targets")
	}
	return func(name string) bool {
		return slices.ContainsFunc(a.Targets, func(t string) bool { return name == t || strings.HasSuffix(name, "."+t) })
	}, nil
}

// patternSet applies PEFT's rank_pattern/alpha_pattern rule: key k applies to a
// module whose name matches ^(.*\.)?(k)$; keys are tried in sorted order.
type patternSet struct {
	keys []string
	res  []*regexp.Regexp
	err  error
}

func patterns[V any](m map[string]V) patternSet {
	var p patternSet
	for k := range m {
		p.keys = append(p.keys, k)
	}
	sort.Strings(p.keys)
	for _, k := range p.keys {
		re, err := regexp.Compile(`^(.*\.)?(` + k + `)$`)
		if err != nil {
			p.err = fmt.Errorf("randmodel: pattern key %q: %w", k, err)
			return p
		}
		p.res = append(p.res, re)
	}
	return p
}

func (p patternSet) match(name string) string {
	for i, re := range p.res {
		if re.MatchString(name) {
			return p.keys[i]
		}
	}
	return ""
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// WriteAdapter writes a PEFT adapter directory for base: adapter_config.json
// with the keys peft 0.13 writes and adapter_model.safetensors in F32 with
// PEFT's tensor names.
func WriteAdapter(dir string, base Spec, a AdapterSpec) error {
	mods, err := AdapterWeights(base, a)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, "adapter_config.json"), a.peftConfig(base)); err != nil {
		return err
	}
	names := make([]string, 0, len(mods))
	for n := range mods {
		names = append(names, n)
	}
	sort.Strings(names)
	dt := safetensors.F32
	if a.BF16 {
		dt = safetensors.BF16
	}
	var ts []safetensors.TensorData
	for _, n := range names {
		m := mods[n]
		p := "base_model.model." + n
		ts = append(ts,
			safetensors.TensorData{Name: p + ".lora_A.weight", DType: dt, Shape: []int{m.Rank, m.In}, Data: m.A},
			safetensors.TensorData{Name: p + ".lora_B.weight", DType: dt, Shape: []int{m.Out, m.Rank}, Data: m.B})
	}
	return safetensors.WriteFile(filepath.Join(dir, "adapter_model.safetensors"), ts, map[string]string{"format": "pt"})
}

func (a AdapterSpec) peftConfig(base Spec) map[string]any {
	var targets any = a.Targets
	if a.TargetRegex != "" {
		targets = a.TargetRegex
	}
	orEmpty := func(m any) any {
		if m == nil {
			return map[string]any{}
		}
		return m
	}
	var rp, ap any
	if a.RankPattern != nil {
		rp = a.RankPattern
	}
	if a.AlphaPattern != nil {
		ap = a.AlphaPattern
	}
	return map[string]any{
		"alpha_pattern":           orEmpty(ap),
		"auto_mapping":            nil,
		"base_model_name_or_path": fmt.Sprintf("randmodel-%d", base.Seed),
		"bias":                    "none",
		"fan_in_fan_out":          false,
		"inference_mode":          true,
		"init_lora_weights":       true,
		"layer_replication":       nil,
		"layers_pattern":          nil,
		"layers_to_transform":     nil,
		"loftq_config":            map[string]any{},
		"lora_alpha":              a.Alpha,
		"lora_dropout":            0.0,
		"megatron_config":         nil,
		"megatron_core":           "megatron.core",
		"modules_to_save":         nil,
		"peft_type":               "LORA",
		"r":                       a.Rank,
		"rank_pattern":            orEmpty(rp),
		"revision":                nil,
		"target_modules":          targets,
		"task_type":               "CAUSAL_LM",
		"use_dora":                false,
		"use_rslora":              a.RSLoRA,
	}
}

// roundBF16 rounds each value to the nearest bfloat16, ties to even, as
// the safetensors writer stores it.
func roundBF16(w []float32) {
	for i, v := range w {
		w[i] = float16.BF16ToFloat32(float16.Float32ToBF16(v))
	}
}
