package adaptersource

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
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

// TestValidateRejects: each broken adapter is ErrInvalid (ErrNotFound when
// there is no config at all: the folder is not an adapter) with a message that
// names the file and the problem, and not the folder.
func TestValidateRejects(t *testing.T) {
	adapter := testmodels.Path(t, "stories260K", "adapters", "qv-r4")
	weights, err := os.ReadFile(filepath.Join(adapter, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	good := `{"peft_type":"LORA","r":4,"lora_alpha":8,"target_modules":["q_proj"]}`
	cases := map[string]struct{ config, weights, want string }{
		"no config":         {"", string(weights), "adapter_config.json is missing"},
		"no weights":        {good, "", "adapter_model.safetensors is missing"},
		"config not json":   {"{r: 4", string(weights), "adapter_config.json: not valid JSON"},
		"rank zero":         {`{"r":0,"lora_alpha":8,"target_modules":["q_proj"]}`, string(weights), "r = 0"},
		"alpha NaN":         {`{"r":4,"lora_alpha":NaN,"target_modules":["q_proj"]}`, string(weights), "lora_alpha = NaN"},
		"no target modules": {`{"r":4,"lora_alpha":8}`, string(weights), "target_modules is missing"},
		"empty modules":     {`{"r":4,"lora_alpha":8,"target_modules":[]}`, string(weights), "target_modules is an empty list"},
		"modules a number":  {`{"r":4,"lora_alpha":8,"target_modules":7}`, string(weights), "target_modules"},
		"not lora":          {`{"peft_type":"IA3","r":4,"lora_alpha":8,"target_modules":["q_proj"]}`, string(weights), "IA3"},
		"weights truncated": {good, string(weights[:len(weights)-100]), "adapter_model.safetensors is truncated"},
		"weights garbage":   {good, "not a safetensors file at all", "adapter_model.safetensors"},
	}
	for name, tc := range cases {
		dir := t.TempDir()
		if tc.config != "" {
			os.WriteFile(filepath.Join(dir, ConfigFile), []byte(tc.config), 0o644)
		}
		if tc.weights != "" {
			os.WriteFile(filepath.Join(dir, WeightsFile), []byte(tc.weights), 0o644)
		}
		_, err := Validate(dir)
		wantReason := ErrInvalid
		if name == "no config" {
			wantReason = ErrNotFound
		}
		if !errors.Is(err, wantReason) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), dir) {
			t.Errorf("%s: %v, want %v naming %q and not the folder", name, err, wantReason, tc.want)
		}
	}
	// PEFT also allows target_modules as one regular expression.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ConfigFile), []byte(`{"r":4,"lora_alpha":8,"target_modules":".*\\.(q|v)_proj"}`), 0o644)
	os.WriteFile(filepath.Join(dir, WeightsFile), weights, 0o644)
	if _, err := Validate(dir); err != nil {
		t.Errorf("pattern target_modules: %v", err)
	}
}
