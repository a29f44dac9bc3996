// Package peft reads the Hugging Face PEFT LoRA adapter format that both the
// engine and the sidecar handle: adapter_config.json, checked in full, and the
// header of adapter_model.safetensors, checked against the file's length. Every
// error names the file and the problem in the adapter's own terms and never a
// server path, so callers may show it to whoever asked for the adapter.
//
// Unsupported PEFT features are rejected by name rather than ignored, so an
// adapter never silently computes something other than what it was trained to.
package peft

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/dlclark/regexp2"
)

// The files of a PEFT LoRA adapter that Graft loads.
const (
	ConfigFile  = "adapter_config.json"
	WeightsFile = "adapter_model.safetensors"
)

// MaxConfigSize bounds adapter_config.json; real ones are about 1 KiB.
const MaxConfigSize = 1 << 20

// Config is the part of adapter_config.json that decides the math.
type Config struct {
	PeftType     string
	BaseModel    string // base_model_name_or_path
	R            int
	Alpha        float64 // lora_alpha
	UseRSLoRA    bool
	RankPattern  map[string]int
	AlphaPattern map[string]float64

	// TargetModules is the list form of target_modules (or the modules
	// "all-linear" stands for); TargetPattern the regular-expression form.
	TargetModules []string
	TargetPattern string

	targetRegex       *regexp2.Regexp
	rankKeys, alphaKs []*patternKey
}

// ReadConfig reads and checks dir's adapter_config.json. A missing file gives
// an error for which errors.Is(err, fs.ErrNotExist) holds.
func ReadConfig(dir string) (*Config, error) {
	f, err := os.Open(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, fileError(ConfigFile, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxConfigSize+1))
	if err != nil {
		return nil, fileError(ConfigFile, err)
	}
	if len(b) > MaxConfigSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", ConfigFile, MaxConfigSize)
	}
	return ParseConfig(b)
}

// ParseConfig parses and checks the bytes of adapter_config.json. Errors start
// with "adapter_config.json: ".
func ParseConfig(data []byte) (*Config, error) {
	c, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigFile, err)
	}
	return c, nil
}

func parse(data []byte) (*Config, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(pythonJSON(data), &fields); err != nil {
		return nil, syntaxError(err)
	}
	if fields == nil {
		return nil, fmt.Errorf("want a JSON object")
	}
	if err := refuseUnsupported(fields); err != nil {
		return nil, err
	}
	c := &Config{}
	if err := c.readFields(fields); err != nil {
		return nil, err
	}
	if err := c.compilePatterns(); err != nil {
		return nil, err
	}
	return c, c.checkScales()
}

// refuseUnsupported names the PEFT features Graft does not run.
func refuseUnsupported(f map[string]json.RawMessage) error {
	var (
		peftType, bias              string
		dora, fanInFanOut, loraBias bool
		modulesToSave               []string
	)
	for _, d := range []struct {
		key  string
		into any
		want string
	}{
		{"peft_type", &peftType, "a string"},
		{"bias", &bias, "a string"},
		{"use_dora", &dora, "true or false"},
		{"fan_in_fan_out", &fanInFanOut, "true or false"},
		{"lora_bias", &loraBias, "true or false"},
		{"modules_to_save", &modulesToSave, "a list of module names"},
	} {
		if err := decode(f, d.key, d.into, d.want); err != nil {
			return err
		}
	}
	switch {
	case peftType != "" && !strings.EqualFold(peftType, "LORA"):
		return fmt.Errorf("peft_type %q is not supported (only LORA)", peftType)
	case dora:
		return fmt.Errorf("use_dora: DoRA adapters are not supported")
	case len(modulesToSave) > 0:
		return fmt.Errorf("modules_to_save %v: fully trained extra modules are not supported", modulesToSave)
	case fanInFanOut:
		return fmt.Errorf("fan_in_fan_out: Conv1D-layout adapters are not supported")
	case bias != "" && bias != "none":
		return fmt.Errorf("bias %q: adapters with trained biases are not supported", bias)
	case loraBias:
		return fmt.Errorf("lora_bias: adapters with a trained lora_B bias are not supported")
	case !isNull(f["layer_replication"]):
		return fmt.Errorf("layer_replication is not supported")
	}
	return nil
}

func (c *Config) readFields(f map[string]json.RawMessage) error {
	if err := decode(f, "peft_type", &c.PeftType, "a string"); err != nil {
		return err
	}
	if err := decode(f, "base_model_name_or_path", &c.BaseModel, "a string"); err != nil {
		return err
	}
	if err := decode(f, "use_rslora", &c.UseRSLoRA, "true or false"); err != nil {
		return err
	}
	var err error
	if c.R, err = rank("r", f["r"]); err != nil {
		return err
	}
	if c.Alpha, err = alpha("lora_alpha", f["lora_alpha"]); err != nil {
		return err
	}
	if c.RankPattern, err = numberMap(f, "rank_pattern", rank); err != nil {
		return err
	}
	if c.AlphaPattern, err = numberMap(f, "alpha_pattern", alpha); err != nil {
		return err
	}
	return c.readTargets(f["target_modules"])
}

// decode reads an optional field; null and absent leave into as it is.
func decode(f map[string]json.RawMessage, key string, into any, want string) error {
	raw, ok := f[key]
	if !ok || isNull(raw) {
		return nil
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("%s must be %s, not %s", key, want, excerpt(raw))
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// excerpt quotes a bad value from the file briefly: enough to recognise it.
func excerpt(raw json.RawMessage) string {
	const max = 40
	s := string(raw)
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

// syntaxError words a JSON decoding failure without Go type names.
func syntaxError(err error) error {
	if se, ok := err.(*json.SyntaxError); ok {
		return fmt.Errorf("not valid JSON: %s (at byte %d)", se.Error(), se.Offset)
	}
	return fmt.Errorf("want a JSON object")
}
