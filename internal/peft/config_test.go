package peft_test

import (
	"math"
	"strings"
	"testing"

	"github.com/graft-ai/graft/internal/peft"
)

// cfgJSON is a minimal valid adapter_config.json with extra keys spliced in.
func cfgJSON(extra string) []byte {
	s := `{"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"]`
	if extra != "" {
		s += ", " + extra
	}
	return []byte(s + "}")
}

func TestParseConfigScales(t *testing.T) {
	for _, tc := range []struct {
		extra, module string
		rank          int
		scale         float64
	}{
		{"", "model.layers.0.self_attn.q_proj", 8, 2},
		{`"use_rslora": true`, "model.layers.0.self_attn.q_proj", 8, 16 / math.Sqrt(8)},
		// PEFT's rule: key k matches names matching ^(.*\.)?(k)$.
		{`"rank_pattern": {"q_proj": 4}`, "model.layers.3.self_attn.q_proj", 4, 4},
		{`"rank_pattern": {"q_proj": 4}`, "model.layers.3.self_attn.v_proj", 8, 2},
		{`"rank_pattern": {"layers.1.self_attn.q_proj": 2}`, "model.layers.1.self_attn.q_proj", 2, 8},
		{`"rank_pattern": {"layers.1.self_attn.q_proj": 2}`, "model.layers.11.self_attn.q_proj", 8, 2},
		// a key is not a suffix of a component: "proj" does not match "q_proj".
		{`"rank_pattern": {"proj": 2}`, "model.layers.0.self_attn.q_proj", 8, 2},
		{`"rank_pattern": {".*_proj": 2}`, "model.layers.0.self_attn.q_proj", 2, 8},
		{`"alpha_pattern": {"v_proj": 4}`, "model.layers.0.self_attn.v_proj", 8, 0.5},
		{`"alpha_pattern": {"v_proj": 4}, "rank_pattern": {"v_proj": 2}, "use_rslora": true`, "model.layers.0.self_attn.v_proj", 2, 4 / math.Sqrt(2)},
	} {
		// A later "lora_alpha" key overrides the first, as in Python's json.
		c, err := peft.ParseConfig(cfgJSON(tc.extra))
		if err != nil {
			t.Fatalf("%s: %v", tc.extra, err)
		}
		rank, scale := c.Scale(tc.module)
		if rank != tc.rank || math.Abs(float64(scale)-tc.scale) > 1e-6 {
			t.Errorf("%s on %s: rank %d scale %v, want %d %v", tc.extra, tc.module, rank, scale, tc.rank, tc.scale)
		}
	}
}

func TestParseConfigTargets(t *testing.T) {
	for _, tc := range []struct {
		targets string
		yes, no []string
	}{
		{`["q_proj", "v_proj"]`, []string{"model.layers.0.self_attn.q_proj", "q_proj"}, []string{"model.layers.0.self_attn.k_proj", "model.layers.0.self_attn.xq_proj"}},
		{`["self_attn.o_proj"]`, []string{"model.layers.2.self_attn.o_proj"}, []string{"model.layers.2.mlp.down_proj"}},
		{`"all-linear"`, []string{"model.layers.0.mlp.down_proj", "model.layers.5.self_attn.k_proj"}, []string{"lm_head"}},
		// a regex string must match the whole name
		{`".*\\.1\\.self_attn\\.(q|k)_proj"`, []string{"model.layers.1.self_attn.k_proj"}, []string{"model.layers.11.self_attn.k_proj", "model.layers.1.self_attn.v_proj"}},
		{`"q_proj"`, nil, []string{"model.layers.0.self_attn.q_proj"}},
	} {
		c, err := peft.ParseConfig([]byte(`{"r": 4, "lora_alpha": 4, "target_modules": ` + tc.targets + `}`))
		if err != nil {
			t.Fatalf("%s: %v", tc.targets, err)
		}
		for _, n := range tc.yes {
			if !c.Targets(n) {
				t.Errorf("target_modules %s does not target %s", tc.targets, n)
			}
		}
		for _, n := range tc.no {
			if c.Targets(n) {
				t.Errorf("target_modules %s targets %s", tc.targets, n)
			}
		}
	}
}

// TestParseConfigRejects: every unsupported feature fails by name, so a user
// learns why rather than getting an adapter that silently computes something else.
func TestParseConfigRejects(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{string(cfgJSON(`"use_dora": true`)), "DoRA"},
		{string(cfgJSON(`"modules_to_save": ["lm_head"]`)), "modules_to_save"},
		{string(cfgJSON(`"fan_in_fan_out": true`)), "fan_in_fan_out"},
		{string(cfgJSON(`"bias": "lora_only"`)), "bias"},
		{string(cfgJSON(`"bias": "all"`)), "bias"},
		{string(cfgJSON(`"layer_replication": [[0, 2], [1, 3]]`)), "layer_replication"},
		{string(cfgJSON(`"peft_type": "LOHA"`)), "LOHA"},
		{string(cfgJSON(`"peft_type": "IA3"`)), "IA3"},
		{`{"r": 0, "lora_alpha": 16, "target_modules": ["q_proj"]}`, "r = 0: the rank must be a whole number of at least 1"},
		{`{"r": -4, "lora_alpha": 16, "target_modules": ["q_proj"]}`, "r = -4"},
		{`{"r": 2.5, "lora_alpha": 16, "target_modules": ["q_proj"]}`, "r = 2.5"},
		{`{"r": 1e10, "lora_alpha": 16, "target_modules": ["q_proj"]}`, "r = 1e10"},
		{`{"r": NaN, "lora_alpha": 16, "target_modules": ["q_proj"]}`, "r = NaN"},
		{`{"lora_alpha": 16, "target_modules": ["q_proj"]}`, "r is missing"},
		{`{"r": 8, "target_modules": ["q_proj"]}`, "lora_alpha is missing"},
		{`{"r": 1, "lora_alpha": 1e300, "target_modules": ["q_proj"]}`, "not a finite"},
		{`{"r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "alpha_pattern": {"q_proj": 1e300}}`, "not a finite"},
		{`{"r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "alpha_pattern": {"q_proj": 0}}`, `alpha_pattern["q_proj"] = 0: must be a finite positive number`},
		{`{"r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "rank_pattern": {"q_proj": 0}}`, `rank_pattern["q_proj"] = 0`},
		{`{"r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "rank_pattern": {"q_proj": -3}}`, `rank_pattern["q_proj"] = -3`},
		{`{"r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "rank_pattern": [1]}`, "rank_pattern must be an object"},
		{`{"r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "lora_bias": true}`, "lora_bias"},
		{`{"r": 8, "lora_alpha": 0, "target_modules": ["q_proj"]}`, "lora_alpha = 0: must be a finite positive number"},
		{`{"r": 8, "lora_alpha": -16, "target_modules": ["q_proj"]}`, "lora_alpha = -16: must be a finite positive number"},
		{`{"r": 8, "lora_alpha": NaN, "target_modules": ["q_proj"]}`, "lora_alpha = NaN: must be a finite number"},
		{`{"r": 8, "lora_alpha": Infinity, "target_modules": ["q_proj"]}`, "lora_alpha = Infinity"},
		{`{"r": 8, "lora_alpha": -Infinity, "target_modules": ["q_proj"]}`, "lora_alpha = -Infinity"},
		{`{"r": 8, "lora_alpha": "16", "target_modules": ["q_proj"]}`, "lora_alpha must be a number"},
		{`{"r": 8, "lora_alpha": 1e999, "target_modules": ["q_proj"]}`, "lora_alpha = 1e999 is out of range"},
		{`{"r": 8, "lora_alpha": 16, "use_dora": "yes", "target_modules": ["q_proj"]}`, "use_dora must be true or false"},
		{`{"r": 8, "lora_alpha": 16}`, "target_modules"},
		{`{"r": 8, "lora_alpha": 16, "target_modules": 3}`, "target_modules"},
		{`{"r": 8, "lora_alpha": 16, "target_modules": []}`, "target_modules is an empty list"},
		{`{"r": 8, "lora_alpha": 16, "target_modules": ""}`, "target_modules is an empty pattern"},
		{`{"r": 8, "lora_alpha": 16, "target_modules": "("}`, "target_modules regex"},
		{string(cfgJSON(`"rank_pattern": {"(": 2}`)), "rank_pattern"},
		{string(cfgJSON(`"alpha_pattern": {"q_proj)": 2}`)), "alpha_pattern"},
		{`[1, 2]`, "want a JSON object"},
		{`null`, "want a JSON object"},
		{`{"r": 8,`, "not valid JSON"},
	} {
		_, err := peft.ParseConfig([]byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming %q", tc.json, err, tc.want)
			continue
		}
		checkMessage(t, err)
	}
}

// TestParseConfigRealPEFT: a config exactly as peft 0.13 writes it parses.
func TestParseConfigRealPEFT(t *testing.T) {
	c, err := peft.ParseConfig([]byte(`{"alpha_pattern": {}, "auto_mapping": null, "base_model_name_or_path": "x",
	 "bias": "none", "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true,
	 "layer_replication": null, "layers_pattern": null, "layers_to_transform": null, "loftq_config": {},
	 "lora_alpha": 16, "lora_dropout": 0.05, "megatron_config": null, "megatron_core": "megatron.core",
	 "modules_to_save": null, "peft_type": "LORA", "r": 8, "rank_pattern": {}, "revision": null,
	 "target_modules": ["k_proj", "q_proj"], "task_type": "CAUSAL_LM", "use_dora": false, "use_rslora": false}`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Targets("model.layers.0.self_attn.k_proj") {
		t.Error("k_proj not targeted")
	}
}
