package jobs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
)

// RequestError is a request refused because of one parameter.
type RequestError struct {
	Status int // HTTP status: 400 or 404
	Code   string
	Param  string
	Msg    string
}

func (e *RequestError) Error() string { return e.Msg }

func badParam(param, format string, args ...any) *RequestError {
	return &RequestError{Status: 400, Code: "invalid_value", Param: param, Msg: fmt.Sprintf(format, args...)}
}

// Request is a decoded POST /v1/fine_tuning/jobs.
type Request struct {
	Model          string
	TrainingFile   string
	ValidationFile string
	Suffix         string
	Seed           *int64
	Hyper          hyper
	Metadata       map[string]string
	Integrations   []json.RawMessage
}

// auto is a number or the string "auto" (0 here).
type auto float64

func (a *auto) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		if s != "auto" {
			return fmt.Errorf(`want a number or "auto", got %q`, s)
		}
		*a = 0
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf(`want a number or "auto"`)
	}
	if f <= 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("want a positive number, got %v", f)
	}
	*a = auto(f)
	return nil
}

// hyper is a hyperparameters object: OpenAI's three and Graft's LoRA extras.
type hyper struct {
	NEpochs                auto     `json:"n_epochs"`
	BatchSize              auto     `json:"batch_size"`
	LearningRateMultiplier auto     `json:"learning_rate_multiplier"`
	LoRARank               int      `json:"lora_rank"`
	LoRAAlpha              float64  `json:"lora_alpha"`
	LoRADropout            float64  `json:"lora_dropout"`
	TargetModules          []string `json:"target_modules"`
}

// merge fills h's unset fields from o.
func (h *hyper) merge(o hyper) {
	if h.NEpochs == 0 {
		h.NEpochs = o.NEpochs
	}
	if h.BatchSize == 0 {
		h.BatchSize = o.BatchSize
	}
	if h.LearningRateMultiplier == 0 {
		h.LearningRateMultiplier = o.LearningRateMultiplier
	}
	if h.LoRARank == 0 {
		h.LoRARank = o.LoRARank
	}
	if h.LoRAAlpha == 0 {
		h.LoRAAlpha = o.LoRAAlpha
	}
	if h.LoRADropout == 0 {
		h.LoRADropout = o.LoRADropout
	}
	if h.TargetModules == nil {
		h.TargetModules = o.TargetModules
	}
}

// Defaults for "auto" and absent settings: the trainer's own (its learning
// rate is what a multiplier of 1 means).
const (
	DefaultEpochs    = 3
	DefaultBatchSize = 4
	BaseLearningRate = 2e-4
	DefaultRank      = 8
)

// Modules are the projections a LoRA adapter may target (PEFT's names).
var Modules = []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}

var suffixRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Decode reads a create request strictly: an unknown parameter or a value
// that cannot work is a *RequestError naming it.
func Decode(body []byte) (Request, error) {
	var f map[string]json.RawMessage
	if err := json.Unmarshal(body, &f); err != nil || f == nil {
		return Request{}, badParam("", "We could not parse the JSON body of your request: want a JSON object.")
	}
	var r Request
	var top, method hyper
	fields := map[string]any{"model": &r.Model, "training_file": &r.TrainingFile, "validation_file": &r.ValidationFile,
		"suffix": &r.Suffix, "seed": &r.Seed, "hyperparameters": &top, "metadata": &r.Metadata,
		"integrations": &r.Integrations, "method": nil,
		// Graft's LoRA settings may also come at the top level (the SDKs' extra_body).
		"lora_rank": &r.Hyper.LoRARank, "lora_alpha": &r.Hyper.LoRAAlpha, "lora_dropout": &r.Hyper.LoRADropout,
		"target_modules": &r.Hyper.TargetModules}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		dst, known := fields[k]
		if !known {
			return Request{}, &RequestError{Status: 400, Code: "unknown_parameter", Param: k, Msg: "Unrecognized request argument supplied: " + k}
		}
		if k == "method" {
			m, err := decodeMethod(f[k])
			if err != nil {
				return Request{}, err
			}
			method = m
			continue
		}
		if string(f[k]) == "null" {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(f[k]))
		if k == "hyperparameters" {
			dec.DisallowUnknownFields()
		}
		if err := dec.Decode(dst); err != nil {
			return Request{}, badParam(k, "%s: %s", k, strings.TrimPrefix(err.Error(), "json: "))
		}
	}
	r.Hyper.merge(top)
	r.Hyper.merge(method)
	return r, r.check()
}

func decodeMethod(raw json.RawMessage) (hyper, error) {
	var m struct {
		Type       string `json:"type"`
		Supervised *struct {
			Hyperparameters json.RawMessage `json:"hyperparameters"`
		} `json:"supervised"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return hyper{}, badParam("method", "method: %v", err)
	}
	if m.Type != "" && m.Type != "supervised" {
		return hyper{}, badParam("method.type", "method.type %q: Graft trains LoRA adapters by supervised fine-tuning only", m.Type)
	}
	var h hyper
	if m.Supervised != nil && len(m.Supervised.Hyperparameters) > 0 && string(m.Supervised.Hyperparameters) != "null" {
		dec := json.NewDecoder(bytes.NewReader(m.Supervised.Hyperparameters))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&h); err != nil {
			return hyper{}, badParam("method.supervised.hyperparameters", "method.supervised.hyperparameters: %s", strings.TrimPrefix(err.Error(), "json: "))
		}
	}
	return h, nil
}

func (r Request) check() error {
	switch {
	case r.Model == "":
		return badParam("model", "You must provide a model: a deployment's name or its base model.")
	case r.TrainingFile == "":
		return badParam("training_file", "You must provide a training_file (the id of a file uploaded with purpose fine-tune).")
	case r.Suffix != "" && !suffixRE.MatchString(r.Suffix):
		return badParam("suffix", "suffix %q: want 1 to 64 of A-Z a-z 0-9 _ -", r.Suffix)
	case r.Hyper.NEpochs != 0 && (r.Hyper.NEpochs != auto(math.Trunc(float64(r.Hyper.NEpochs))) || r.Hyper.NEpochs > 50):
		return badParam("hyperparameters.n_epochs", "n_epochs: want a whole number from 1 to 50")
	case r.Hyper.BatchSize != 0 && (r.Hyper.BatchSize != auto(math.Trunc(float64(r.Hyper.BatchSize))) || r.Hyper.BatchSize > 256):
		return badParam("hyperparameters.batch_size", "batch_size: want a whole number from 1 to 256")
	case r.Hyper.LearningRateMultiplier > 100:
		return badParam("hyperparameters.learning_rate_multiplier", "learning_rate_multiplier: want at most 100")
	case r.Hyper.LoRARank < 0 || r.Hyper.LoRARank > 256:
		return badParam("lora_rank", "lora_rank: want 1 to 256")
	case r.Hyper.LoRAAlpha < 0 || math.IsNaN(r.Hyper.LoRAAlpha) || math.IsInf(r.Hyper.LoRAAlpha, 0):
		return badParam("lora_alpha", "lora_alpha: want a positive number")
	case r.Hyper.LoRADropout < 0 || r.Hyper.LoRADropout >= 1:
		return badParam("lora_dropout", "lora_dropout: want a number in [0, 1)")
	case len(r.Metadata) > 16:
		return badParam("metadata", "metadata: at most 16 keys")
	}
	for _, m := range r.Hyper.TargetModules {
		if !slices.Contains(Modules, m) {
			return badParam("target_modules", "target_modules: %q is not one of %v", m, Modules)
		}
	}
	return nil
}

// resolved applies the defaults.
func (h hyper) resolved() Hyperparameters {
	out := Hyperparameters{NEpochs: int(h.NEpochs), BatchSize: int(h.BatchSize), LearningRateMultiplier: float64(h.LearningRateMultiplier),
		LoRARank: h.LoRARank, LoRAAlpha: h.LoRAAlpha, LoRADropout: h.LoRADropout, TargetModules: h.TargetModules}
	if out.NEpochs == 0 {
		out.NEpochs = DefaultEpochs
	}
	if out.BatchSize == 0 {
		out.BatchSize = DefaultBatchSize
	}
	if out.LearningRateMultiplier == 0 {
		out.LearningRateMultiplier = 1
	}
	if out.LoRARank == 0 {
		out.LoRARank = DefaultRank
	}
	if out.LoRAAlpha == 0 {
		out.LoRAAlpha = 2 * float64(out.LoRARank)
	}
	if len(out.TargetModules) == 0 {
		out.TargetModules = []string{"q_proj", "v_proj"}
	}
	return out
}
