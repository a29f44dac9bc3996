package adaptersource

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/graft-ai/graft/engine/safetensors"
)

// maxConfigSize bounds adapter_config.json; real ones are about 1 KiB.
const maxConfigSize = 1 << 20

// Config is the part of a PEFT adapter_config.json that Graft checks.
type Config struct {
	PEFTType      string   `json:"peft_type"`
	R             int      `json:"r"`
	LoRAAlpha     float64  `json:"lora_alpha"`
	TargetModules []string `json:"-"`
	BaseModel     string   `json:"base_model_name_or_path"`
}

// Validate checks that dir holds a loadable PEFT LoRA adapter: both files
// present, adapter_config.json parses with a positive r and target_modules, and
// the safetensors header parses with at least one tensor. It returns the config;
// errors wrap ErrInvalid.
func Validate(dir string) (Config, error) {
	cfg, err := readConfig(filepath.Join(dir, ConfigFile))
	if err != nil {
		return Config{}, fmt.Errorf("%w: %s: %v", ErrInvalid, ConfigFile, err)
	}
	f, err := safetensors.Open(filepath.Join(dir, WeightsFile))
	if err != nil {
		return Config{}, fmt.Errorf("%w: %s: %v", ErrInvalid, WeightsFile, err)
	}
	defer f.Close()
	if len(f.Tensors()) == 0 {
		return Config{}, fmt.Errorf("%w: %s holds no tensors", ErrInvalid, WeightsFile)
	}
	return cfg, nil
}

func readConfig(path string) (Config, error) {
	fh, err := os.Open(path)
	if err != nil {
		return Config{}, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxConfigSize+1))
	if err != nil {
		return Config{}, err
	}
	if len(b) > maxConfigSize {
		return Config{}, fmt.Errorf("larger than %d bytes", maxConfigSize)
	}
	return parseConfig(b)
}

func parseConfig(b []byte) (Config, error) {
	var raw struct {
		Config
		TargetModules json.RawMessage `json:"target_modules"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Config{}, err
	}
	cfg := raw.Config
	if cfg.PEFTType != "" && cfg.PEFTType != "LORA" {
		return Config{}, fmt.Errorf("peft_type %q, want LORA", cfg.PEFTType)
	}
	if cfg.R <= 0 {
		return Config{}, fmt.Errorf("r = %d, want a positive rank", cfg.R)
	}
	mods, err := targetModules(raw.TargetModules)
	if err != nil {
		return Config{}, err
	}
	cfg.TargetModules = mods
	return cfg, nil
}

// targetModules accepts PEFT's two forms: a list of module names, or one string
// (a regular expression over module paths).
func targetModules(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, fmt.Errorf("target_modules missing")
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		if len(list) == 0 {
			return nil, fmt.Errorf("target_modules is empty")
		}
		return list, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err != nil || one == "" {
		return nil, fmt.Errorf("target_modules must be a list of names or a pattern string")
	}
	return []string{one}, nil
}
