package peft

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/dlclark/regexp2"
)

// AllLinear is what target_modules "all-linear" stands for in a Llama-style
// model: every linear layer of the decoder blocks (PEFT leaves out the output
// layer).
var AllLinear = []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}

const matchTimeout = 100 * time.Millisecond // patterns come from untrusted files

type patternKey struct {
	key string
	re  *regexp2.Regexp
}

// readTargets reads target_modules: a list of module names (matched as the
// last name components, as PEFT does) or one regular expression (matched
// against the whole module name).
func (c *Config) readTargets(raw json.RawMessage) error {
	if isNull(raw) {
		return fmt.Errorf("target_modules is missing")
	}
	var re string
	if json.Unmarshal(raw, &re) == nil {
		switch re {
		case "":
			return fmt.Errorf("target_modules is an empty pattern")
		case "all-linear":
			c.TargetModules = slices.Clone(AllLinear)
			return nil
		}
		r, err := regexp2.Compile("^(?:"+re+")$", regexp2.None)
		if err != nil {
			return fmt.Errorf("target_modules regex %q: %v", re, err)
		}
		r.MatchTimeout = matchTimeout
		c.TargetPattern, c.targetRegex = re, r
		return nil
	}
	if err := json.Unmarshal(raw, &c.TargetModules); err != nil {
		return fmt.Errorf("target_modules: want a list of names or a regex string, not %s", excerpt(raw))
	}
	if len(c.TargetModules) == 0 {
		return fmt.Errorf("target_modules is an empty list")
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
	return slices.ContainsFunc(c.TargetModules, func(t string) bool { return suffixMatch(fullName, t) })
}

func suffixMatch(fullName, target string) bool {
	return fullName == target || strings.HasSuffix(fullName, "."+target)
}

// CheckTargets checks target_modules against the full names of the base
// model's modules: every listed name, or the pattern, must match one of them,
// so an adapter trained for another architecture is refused instead of
// loading as a silent no-op.
func (c *Config) CheckTargets(modules []string) error {
	if c.targetRegex != nil {
		if !slices.ContainsFunc(modules, c.Targets) {
			return fmt.Errorf("%s: target_modules pattern %q matches no module of the base model", ConfigFile, c.TargetPattern)
		}
		return nil
	}
	for _, t := range c.TargetModules {
		if !slices.ContainsFunc(modules, func(m string) bool { return suffixMatch(m, t) }) {
			return fmt.Errorf("%s: target_modules names %q, which is not a module of the base model (it has %s)", ConfigFile, t, strings.Join(shortNames(modules), ", "))
		}
	}
	return nil
}

// shortNames lists the distinct last components of module names, in order.
func shortNames(modules []string) []string {
	var out []string
	for _, m := range modules {
		s := m[strings.LastIndexByte(m, '.')+1:]
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
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
	return rank, float32(scaleOf(alpha, rank, c.UseRSLoRA))
}

func scaleOf(alpha float64, rank int, rs bool) float64 {
	if rs {
		return alpha / math.Sqrt(float64(rank))
	}
	return alpha / float64(rank)
}

func (c *Config) compilePatterns() error {
	var err error
	if c.rankKeys, err = patternKeys(sortedKeys(c.RankPattern)); err != nil {
		return fmt.Errorf("rank_pattern: %w", err)
	}
	if c.alphaKs, err = patternKeys(sortedKeys(c.AlphaPattern)); err != nil {
		return fmt.Errorf("alpha_pattern: %w", err)
	}
	return nil
}

// checkScales rejects ranks and alphas whose scale is not a finite non-zero
// float32: an adapter with an infinite scale would turn its rows' logits into
// NaN, and one that rounds to zero does nothing.
func (c *Config) checkScales() error {
	ranks := append([]int{c.R}, mapValues(c.RankPattern)...)
	alphas := append([]float64{c.Alpha}, mapValues(c.AlphaPattern)...)
	for _, r := range ranks {
		for _, a := range alphas {
			s := scaleOf(a, r, c.UseRSLoRA)
			if f := float32(s); f == 0 || math.IsInf(float64(f), 0) {
				return fmt.Errorf("lora_alpha %v with rank %d gives the scale %v, which is not a finite non-zero float32", a, r, s)
			}
		}
	}
	return nil
}

// patternKeys compiles PEFT's pattern-key rule: key k applies to a module whose
// name matches (.*\.)?(k)$ from the start.
func patternKeys(keys []string) ([]*patternKey, error) {
	var out []*patternKey
	for _, k := range keys {
		re, err := regexp2.Compile(`^(.*\.)?(`+k+`)$`, regexp2.None)
		if err != nil {
			return nil, fmt.Errorf("key %q: %v", k, err)
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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func mapValues[V any](m map[string]V) []V {
	out := make([]V, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}
