// Package lora reads Hugging Face PEFT LoRA adapters (adapter_config.json and
// adapter_model.safetensors), checks them against a base model and turns them into
// per-layer, per-projection weights with their scales. Unsupported PEFT features
// are rejected by name rather than ignored, so an adapter never silently does
// something other than what it was trained to do.
package lora

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/dlclark/regexp2"
)

// Config is the part of adapter_config.json that decides the math.
type Config struct {
	PeftType          string             `json:"peft_type"`
	BaseModel         string             `json:"base_model_name_or_path"`
	R                 int                `json:"r"`
	Alpha             float64            `json:"lora_alpha"`
	UseRSLoRA         bool               `json:"use_rslora"`
	UseDoRA           bool               `json:"use_dora"`
	FanInFanOut       bool               `json:"fan_in_fan_out"`
	Bias              string             `json:"bias"`
	RankPattern       map[string]int     `json:"rank_pattern"`
	AlphaPattern      map[string]float64 `json:"alpha_pattern"`
	ModulesToSave     []string           `json:"modules_to_save"`
	LayerReplication  json.RawMessage    `json:"layer_replication"`
	LoRABias          bool               `json:"lora_bias"`
	TargetModulesRaw  json.RawMessage    `json:"target_modules"`
	targetList        []string
	targetRegex       *regexp2.Regexp
	rankKeys, alphaKs []*patternKey
}

type patternKey struct {
	key string
	re  *regexp2.Regexp
}

// ParseConfig parses and checks adapter_config.json.
func ParseConfig(data []byte) (*Config, error) {
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("adapter_config.json: %w", err)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("adapter_config.json: %w", err)
	}
	return &c, nil
}

func (c *Config) check() error {
	switch {
	case c.PeftType != "" && !strings.EqualFold(c.PeftType, "LORA"):
		return fmt.Errorf("peft_type %q is not supported (only LORA)", c.PeftType)
	case c.UseDoRA:
		return fmt.Errorf("use_dora: DoRA adapters are not supported")
	case len(c.ModulesToSave) > 0:
		return fmt.Errorf("modules_to_save %v: fully trained extra modules are not supported", c.ModulesToSave)
	case c.FanInFanOut:
		return fmt.Errorf("fan_in_fan_out: Conv1D-layout adapters are not supported")
	case c.Bias != "" && c.Bias != "none":
		return fmt.Errorf("bias %q: adapters with trained biases are not supported", c.Bias)
	case len(c.LayerReplication) > 0 && string(c.LayerReplication) != "null":
		return fmt.Errorf("layer_replication is not supported")
	case c.LoRABias:
		return fmt.Errorf("lora_bias: adapters with a trained lora_B bias are not supported")
	case c.R <= 0:
		return fmt.Errorf("r = %d: the rank must be positive", c.R)
	case c.Alpha == 0 || math.IsNaN(c.Alpha) || math.IsInf(c.Alpha, 0):
		return fmt.Errorf("lora_alpha = %v: must be a finite non-zero number", c.Alpha)
	}
	if err := c.parseTargets(); err != nil {
		return err
	}
	var err error
	if c.rankKeys, err = patternKeys(keysOf(c.RankPattern)); err != nil {
		return fmt.Errorf("rank_pattern: %w", err)
	}
	if c.alphaKs, err = patternKeys(keysOf(c.AlphaPattern)); err != nil {
		return fmt.Errorf("alpha_pattern: %w", err)
	}
	return c.checkScales()
}

// checkScales rejects ranks and alphas whose scale is not a finite float32: an
// adapter with an infinite scale would turn its rows' logits into NaN.
func (c *Config) checkScales() error {
	ranks := []int{c.R}
	for k, r := range c.RankPattern {
		if r <= 0 {
			return fmt.Errorf("rank_pattern[%q] = %d: ranks must be positive", k, r)
		}
		ranks = append(ranks, r)
	}
	alphas := []float64{c.Alpha}
	for _, a := range c.AlphaPattern {
		alphas = append(alphas, a)
	}
	for _, r := range ranks {
		for _, a := range alphas {
			s := a / float64(r)
			if c.UseRSLoRA {
				s = a / math.Sqrt(float64(r))
			}
			if f := float32(s); math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) || a == 0 {
				return fmt.Errorf("lora_alpha %v with rank %d gives the scale %v, which is not a finite non-zero float32", a, r, s)
			}
		}
	}
	return nil
}

// parseTargets reads target_modules: a list of module names (matched as the last
// name components, as PEFT does) or one regular expression (matched against the
// whole module name).
func (c *Config) parseTargets() error {
	raw := c.TargetModulesRaw
	if len(raw) == 0 || string(raw) == "null" {
		return fmt.Errorf("target_modules is missing")
	}
	var re string
	if json.Unmarshal(raw, &re) == nil {
		if re == "all-linear" {
			c.targetList = []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
			return nil
		}
		r, err := regexp2.Compile("^(?:"+re+")$", regexp2.None)
		if err != nil {
			return fmt.Errorf("target_modules regex %q: %w", re, err)
		}
		r.MatchTimeout = matchTimeout
		c.targetRegex = r
		return nil
	}
	if err := json.Unmarshal(raw, &c.targetList); err != nil {
		return fmt.Errorf("target_modules: want a list of names or a regex string")
	}
	return nil
}

// Targets reports whether the adapter targets the module with this full name
// (e.g. "model.layers.3.self_attn.q_proj").
func (c *Config) Targets(fullName string) bool {
	if c.targetRegex != nil {
		ok, err := c.targetRegex.MatchString(fullName)
		return err == nil && ok
	}
	for _, t := range c.targetList {
		if fullName == t || strings.HasSuffix(fullName, "."+t) {
			return true
		}
	}
	return false
}

// Scale returns the module's rank (from rank_pattern or r) and its scaling:
// alpha/r, or alpha/sqrt(r) with rsLoRA, with alpha from alpha_pattern or lora_alpha.
func (c *Config) Scale(fullName string) (rank int, scale float32) {
	rank, alpha := c.R, c.Alpha
	if k := match(c.rankKeys, fullName); k != "" {
		rank = c.RankPattern[k]
	}
	if k := match(c.alphaKs, fullName); k != "" {
		alpha = c.AlphaPattern[k]
	}
	if c.UseRSLoRA {
		return rank, float32(alpha / math.Sqrt(float64(rank)))
	}
	return rank, float32(alpha / float64(rank))
}

const matchTimeout = 100 * time.Millisecond // patterns come from untrusted files

// patternKeys compiles PEFT's pattern-key rule: key k applies to a module whose
// name matches (.*\.)?(k)$ from the start.
func patternKeys(keys []string) ([]*patternKey, error) {
	var out []*patternKey
	for _, k := range keys {
		re, err := regexp2.Compile(`^(.*\.)?(`+k+`)$`, regexp2.None)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		re.MatchTimeout = matchTimeout
		out = append(out, &patternKey{key: k, re: re})
	}
	return out, nil
}

// match returns the first key (in sorted order, for determinism) that matches.
func match(keys []*patternKey, name string) string {
	for _, k := range keys {
		if ok, err := k.re.MatchString(name); err == nil && ok {
			return k.key
		}
	}
	return ""
}
