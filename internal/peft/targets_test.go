package peft_test

import (
	"strings"
	"testing"

	"github.com/graft-ai/graft/internal/peft"
)

var twoLayers = []string{
	"model.embed_tokens", "lm_head",
	"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj", "model.layers.0.mlp.down_proj",
	"model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj", "model.layers.1.mlp.down_proj",
}

// TestCheckTargets: names and patterns must each match a module of the base
// model; the error lists what the model has.
func TestCheckTargets(t *testing.T) {
	for _, tc := range []struct{ targets, want string }{
		{`["q_proj", "v_proj"]`, ""},
		{`["self_attn.q_proj", "lm_head", "embed_tokens"]`, ""},
		{`["model.layers.1.mlp.down_proj"]`, ""},
		{`".*\\.1\\.self_attn\\.q_proj"`, ""},
		{`["q_proj", "w_proj"]`, `target_modules names "w_proj", which is not a module of the base model (it has embed_tokens, lm_head, q_proj, v_proj, down_proj)`},
		{`["layers.2.self_attn.q_proj"]`, `"layers.2.self_attn.q_proj"`},
		{`["proj"]`, `"proj"`},
		{`".*\\.7\\.self_attn\\.q_proj"`, "matches no module"},
	} {
		c, err := peft.ParseConfig([]byte(`{"r": 4, "lora_alpha": 4, "target_modules": ` + tc.targets + `}`))
		if err != nil {
			t.Fatal(err)
		}
		err = c.CheckTargets(twoLayers)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.targets, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one containing %q", tc.targets, err, tc.want)
		}
	}
}
