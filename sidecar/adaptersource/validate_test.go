package adaptersource

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/graft-ai/graft/internal/testmodels"
)

func TestValidateStoriesAdapters(t *testing.T) {
	root := testmodels.Path(t, "stories260K", "adapters")
	want := map[string]int{"qv-r4": 4, "all-r8": 8, "mlp-r16": 16, "o-r2-rslora": 2}
	for name, r := range want {
		cfg, err := Validate(filepath.Join(root, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if cfg.R != r || len(cfg.TargetModules) == 0 {
			t.Fatalf("%s: r=%d modules=%v, want r=%d", name, cfg.R, cfg.TargetModules, r)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	adapter := testmodels.Path(t, "stories260K", "adapters", "qv-r4")
	weights, err := os.ReadFile(filepath.Join(adapter, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	good := `{"peft_type":"LORA","r":4,"target_modules":["q_proj"]}`
	cases := map[string]struct{ config, weights string }{
		"no config":         {"", string(weights)},
		"no weights":        {good, ""},
		"config not json":   {"{r: 4", string(weights)},
		"rank zero":         {`{"r":0,"target_modules":["q_proj"]}`, string(weights)},
		"no target modules": {`{"r":4}`, string(weights)},
		"empty modules":     {`{"r":4,"target_modules":[]}`, string(weights)},
		"modules a number":  {`{"r":4,"target_modules":7}`, string(weights)},
		"not lora":          {`{"peft_type":"IA3","r":4,"target_modules":["q_proj"]}`, string(weights)},
		"weights truncated": {good, string(weights[:len(weights)/2])},
		"weights garbage":   {good, "not a safetensors file at all"},
	}
	for name, tc := range cases {
		dir := t.TempDir()
		if tc.config != "" {
			os.WriteFile(filepath.Join(dir, ConfigFile), []byte(tc.config), 0o644)
		}
		if tc.weights != "" {
			os.WriteFile(filepath.Join(dir, WeightsFile), []byte(tc.weights), 0o644)
		}
		if _, err := Validate(dir); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	// PEFT also allows target_modules as one regular expression.
	if _, err := parseConfig([]byte(`{"r":4,"target_modules":".*\\.(q|v)_proj"}`)); err != nil {
		t.Errorf("pattern target_modules: %v", err)
	}
}
