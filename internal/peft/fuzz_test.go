package peft_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/graft-ai/graft/internal/peft"
)

var fuzzNames = []string{
	"model.layers.0.self_attn.q_proj", "model.layers.1.mlp.down_proj", "model.layers.10.self_attn.v_proj", "lm_head", "",
}

// goTypeName catches encoding/json's own wording ("Go struct field",
// "of type float64"), which must never reach whoever sent the adapter.
var goTypeName = regexp.MustCompile(`Go (struct|value)|of type |json\.|\*?peft\.|map\[`)

// checkMessage: an error names its file and carries no Go type names.
func checkMessage(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if !strings.HasPrefix(msg, peft.ConfigFile+": ") {
		t.Fatalf("error does not name the file: %v", err)
	}
	if goTypeName.MatchString(msg) {
		t.Fatalf("error shows Go types: %v", err)
	}
}

// FuzzParseConfig: any bytes give a config or an error that names
// adapter_config.json and no Go types; an accepted config has a rank of at least
// 1, a finite positive alpha and finite scales, and patterns from the file
// never hang or panic when matched.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "k_proj"]}`))
	f.Add([]byte(`{"r": 8, "lora_alpha": 16, "target_modules": ["q_proj"], "rank_pattern": {"q_proj": 4, "layers.1.mlp.down_proj": 2}, "alpha_pattern": {"v_proj": 3}, "use_rslora": true}`))
	f.Add([]byte(`{"r": 8, "lora_alpha": NaN, "target_modules": ["q_proj"]}`))
	f.Add([]byte(`{"r": 8, "lora_alpha": 1e999, "target_modules": ["q_proj"]}`))
	f.Add([]byte(`{"r": 0, "lora_alpha": -Infinity, "target_modules": "all-linear"}`))
	f.Add([]byte(`{"r": 8, "lora_alpha": 16, "target_modules": ["q\"NaN"], "base_model_name_or_path": "Infinity"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := peft.ParseConfig(data)
		if err != nil {
			checkMessage(t, err)
			return
		}
		if c.R < 1 || !(c.Alpha > 0) || c.Alpha > 1e308 {
			t.Fatalf("accepted r = %d, lora_alpha = %v", c.R, c.Alpha)
		}
		for _, n := range fuzzNames {
			c.Targets(n)
			if rank, scale := c.Scale(n); rank < 1 || !(scale > 0) || scale > 3.4e38 {
				t.Fatalf("%s: rank %d scale %v", n, rank, scale)
			}
		}
		_ = c.CheckTargets(fuzzNames)
	})
}
