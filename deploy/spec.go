// Package deploy runs deployments: the spec a user asks for, the status
// machine every deployment moves through, the providers that run its replicas,
// and the controllers that scale them (including to zero and back on Wake).
// Everything it keeps lives in Redis through deploy/state.
package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/graft-ai/graft/sidecar/adaptersource"
	"github.com/graft-ai/graft/sidecar/modelsource"
)

// Type says who may query a deployment.
type Type string

const (
	// Dedicated deployments belong to one tenant.
	Dedicated Type = "dedicated"
	// Serverless deployments are shared: every tenant queries them with its
	// own adapters.
	Serverless Type = "serverless"
)

// Spec is what a user asks a deployment to be, after Predibase's deployment
// config. Engine arguments are flat, as Predibase's are.
type Spec struct {
	// BaseModel is a local path (GGUF file or Hugging Face directory) or
	// hf://org/name[/FILE.gguf][@revision], fetched by each replica into its
	// model cache (see sidecar/modelsource).
	BaseModel string `json:"base_model"`
	// MinReplicas 0 lets the deployment scale to zero.
	MinReplicas int `json:"min_replicas"`
	MaxReplicas int `json:"max_replicas"`
	// ScaleUpThreshold is the concurrent requests (running plus queued) per
	// replica above which another replica starts.
	ScaleUpThreshold int `json:"scale_up_threshold"`
	// Cooldown is how long load must stay below the threshold before one
	// replica is removed.
	Cooldown          Duration `json:"cooldown"`
	PreloadedAdapters []string `json:"preloaded_adapters"`
	// AdapterSources: at most one local folder (adapters addressed by folder
	// name), and the remote schemes allowed (hf://..., s3://...).
	AdapterSources    []string `json:"adapter_sources"`
	Threads           int      `json:"threads"`
	MaxActiveAdapters int      `json:"max_active_adapters"`
	ContextLength     int      `json:"context_length"`
	Device            string   `json:"device"`
	Type              Type     `json:"type"`
}

// Defaults for the fields a spec leaves out.
const (
	DefaultMaxReplicas      = 1
	DefaultScaleUpThreshold = 1
	DefaultCooldown         = time.Hour
	// MaxReplicasLimit bounds max_replicas: a typo should not start a thousand pods.
	MaxReplicasLimit = 64
)

// Duration is a time.Duration written in JSON as a Go duration string ("90s");
// a plain number is read as seconds, as Predibase's cooldown_time is.
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("want a duration like \"90s\" or \"1h\", got %q", s)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("want a duration like \"90s\" or a number of seconds")
	}
	if math.IsNaN(secs) || math.Abs(secs) > float64(math.MaxInt64)/float64(time.Second) {
		return fmt.Errorf("%v seconds is out of range", secs)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// FieldError is input refused because of one field; Field is its JSON name.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// dnsLabel is RFC 1123's label, as Kubernetes names it: the name becomes a
// Redis key part, a Kubernetes object and a hostname.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// CheckName refuses a deployment name that is not a DNS label.
func CheckName(name string) error {
	if !dnsLabel.MatchString(name) {
		return fieldErr("name", "%q is not a DNS label (1 to 63 lower-case letters, digits and '-', starting and ending with a letter or digit)", truncate(name, 80))
	}
	return nil
}

// specFields are the JSON names a spec may carry, in the order errors check them.
var specFields = []string{"base_model", "min_replicas", "max_replicas", "scale_up_threshold", "cooldown",
	"preloaded_adapters", "adapter_sources", "threads", "max_active_adapters", "context_length", "device", "type"}

// DecodeSpec decodes a spec strictly: an unknown field, a value of the wrong
// type, or a value that cannot work is a *FieldError naming the field. Absent
// fields take their defaults; a local base model or adapter folder must exist.
func DecodeSpec(data []byte) (Spec, error) {
	fields, err := decodeObject(data)
	if err != nil {
		return Spec{}, err
	}
	return specFromFields(fields)
}

// DecodeCreate decodes a create request: a spec with the deployment's "name"
// beside its fields.
func DecodeCreate(data []byte) (string, Spec, error) {
	fields, err := decodeObject(data)
	if err != nil {
		return "", Spec{}, err
	}
	var name string
	if raw, ok := fields["name"]; !ok {
		return "", Spec{}, fieldErr("name", "required")
	} else if err := json.Unmarshal(raw, &name); err != nil {
		return "", Spec{}, fieldErr("name", "want a string")
	}
	if err := CheckName(name); err != nil {
		return "", Spec{}, err
	}
	delete(fields, "name")
	s, err := specFromFields(fields)
	return name, s, err
}

// MergeSpec applies a JSON merge patch (RFC 7386, on the top-level fields) to
// cur and decodes the result as strictly as DecodeSpec: a field set to null
// returns to its default.
func MergeSpec(cur Spec, patch []byte) (Spec, error) {
	p, err := decodeObject(patch)
	if err != nil {
		return Spec{}, err
	}
	b, err := json.Marshal(cur)
	if err != nil {
		return Spec{}, err
	}
	fields, err := decodeObject(b)
	if err != nil {
		return Spec{}, err
	}
	for k, v := range p {
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			delete(fields, k)
			continue
		}
		fields[k] = v
	}
	return specFromFields(fields)
}

// decodeObject splits a JSON object into its fields.
func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return nil, &FieldError{Field: "body", Msg: "want a JSON object" + jsonDetail(err)}
	}
	if dec.More() {
		return nil, &FieldError{Field: "body", Msg: "want one JSON object, found more after it"}
	}
	return fields, nil
}

func jsonDetail(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

func specFromFields(fields map[string]json.RawMessage) (Spec, error) {
	for k := range fields {
		if !slices.Contains(specFields, k) {
			return Spec{}, fieldErr(fieldName(k), "unknown field")
		}
	}
	// Empty lists rather than nil, so the API shows [] and not null.
	s := Spec{MaxReplicas: DefaultMaxReplicas, ScaleUpThreshold: DefaultScaleUpThreshold,
		Cooldown: Duration(DefaultCooldown), Type: Dedicated, PreloadedAdapters: []string{}, AdapterSources: []string{}}
	targets := map[string]any{
		"base_model": &s.BaseModel, "min_replicas": &s.MinReplicas, "max_replicas": &s.MaxReplicas,
		"scale_up_threshold": &s.ScaleUpThreshold, "cooldown": &s.Cooldown,
		"preloaded_adapters": &s.PreloadedAdapters, "adapter_sources": &s.AdapterSources,
		"threads": &s.Threads, "max_active_adapters": &s.MaxActiveAdapters,
		"context_length": &s.ContextLength, "device": &s.Device, "type": &s.Type,
	}
	for _, k := range specFields {
		raw, ok := fields[k]
		if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			continue
		}
		if err := json.Unmarshal(raw, targets[k]); err != nil {
			return Spec{}, fieldErr(k, "%s", typeDetail(err))
		}
	}
	return s, s.Validate()
}

// typeDetail turns encoding/json's message into one about the value.
func typeDetail(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return fmt.Sprintf("want %s, got a JSON %s", te.Type, te.Value)
	}
	return err.Error()
}

// Validate checks a spec's values; DecodeSpec and MergeSpec call it.
func (s *Spec) Validate() error {
	if err := checkBaseModel(s.BaseModel); err != nil {
		return err
	}
	switch {
	case s.MinReplicas < 0:
		return fieldErr("min_replicas", "%d is negative", s.MinReplicas)
	case s.MaxReplicas < 1:
		return fieldErr("max_replicas", "%d: want at least 1", s.MaxReplicas)
	case s.MaxReplicas > MaxReplicasLimit:
		return fieldErr("max_replicas", "%d is more than %d", s.MaxReplicas, MaxReplicasLimit)
	case s.MinReplicas > s.MaxReplicas:
		return fieldErr("min_replicas", "%d is more than max_replicas (%d)", s.MinReplicas, s.MaxReplicas)
	case s.ScaleUpThreshold < 1:
		return fieldErr("scale_up_threshold", "%d: want at least 1 request per replica", s.ScaleUpThreshold)
	case s.Cooldown <= 0:
		return fieldErr("cooldown", "%s: want a positive duration", time.Duration(s.Cooldown))
	case s.Threads < 0:
		return fieldErr("threads", "%d is negative", s.Threads)
	case s.MaxActiveAdapters < -1:
		return fieldErr("max_active_adapters", "%d: want -1 (no adapters), 0 (the default) or more", s.MaxActiveAdapters)
	case s.ContextLength < 0:
		return fieldErr("context_length", "%d is negative", s.ContextLength)
	case s.Type != Dedicated && s.Type != Serverless:
		return fieldErr("type", "%q: want dedicated or serverless", truncate(string(s.Type), 80))
	}
	if err := checkDevice(s.Device); err != nil {
		return err
	}
	if _, err := s.AdapterRoot(); err != nil {
		return err
	}
	for _, a := range s.PreloadedAdapters {
		if _, err := adaptersource.ParseRef(a); err != nil {
			return fieldErr("preloaded_adapters", "%v", err)
		}
	}
	return nil
}

func checkBaseModel(m string) error {
	if m == "" {
		return fieldErr("base_model", "required: a local path to a .gguf file or a Hugging Face folder, or hf://org/name[/FILE.gguf][@revision]")
	}
	if modelsource.IsRemote(m) {
		if _, err := modelsource.ParseRef(m); err != nil {
			return fieldErr("base_model", "%q is not hf://org/name[/FILE.gguf][@revision]", truncate(m, 200))
		}
		return nil
	}
	if strings.Contains(m, "://") {
		return fieldErr("base_model", "%q: want a local path or hf://org/name[/FILE.gguf][@revision]", truncate(m, 200))
	}
	if _, err := os.Stat(m); err != nil {
		return fieldErr("base_model", "%q does not exist", truncate(m, 200))
	}
	return nil
}

func checkDevice(d string) error {
	switch {
	case d == "", d == "auto", d == "cpu", d == "cuda":
		return nil
	case strings.HasPrefix(d, "cuda:"):
		if n, err := strconv.Atoi(d[len("cuda:"):]); err == nil && n >= 0 {
			return nil
		}
	}
	return fieldErr("device", "%q: want auto, cpu, cuda or cuda:N", truncate(d, 80))
}

// AdapterRoot returns the one local folder among AdapterSources ("" if none),
// checking every source on the way.
func (s *Spec) AdapterRoot() (string, error) {
	root := ""
	for _, src := range s.AdapterSources {
		switch {
		case src == "hf://" || src == "s3://":
		case strings.HasPrefix(src, "hf://"), strings.HasPrefix(src, "s3://"):
			if _, err := adaptersource.ParseRef(src); err != nil {
				return "", fieldErr("adapter_sources", "%v", err)
			}
		case strings.Contains(src, "://"):
			return "", fieldErr("adapter_sources", "%q: want a local folder, hf:// or s3://", truncate(src, 200))
		default:
			if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
				return "", fieldErr("adapter_sources", "%q is not a folder", truncate(src, 200))
			}
			if root != "" {
				return "", fieldErr("adapter_sources", "two local folders (%q and %q): a replica serves one", truncate(root, 200), truncate(src, 200))
			}
			root = src
		}
	}
	return root, nil
}

// podFields is the part of a spec a replica is started with: a change to it
// needs new replicas, a change to the rest (scaling) does not.
func (s Spec) podFields() Spec {
	return Spec{BaseModel: s.BaseModel, PreloadedAdapters: s.PreloadedAdapters, AdapterSources: s.AdapterSources,
		Threads: s.Threads, MaxActiveAdapters: s.MaxActiveAdapters, ContextLength: s.ContextLength, Device: s.Device}
}

// NeedsNewReplicas reports whether replicas started for s must be replaced to
// serve next.
func (s Spec) NeedsNewReplicas(next Spec) bool {
	a, _ := json.Marshal(s.podFields())
	b, _ := json.Marshal(next.podFields())
	return !bytes.Equal(a, b)
}

// fieldName shows an unknown key as the field an error names; an empty key
// still names something.
func fieldName(k string) string {
	if k == "" {
		return `""`
	}
	return truncate(k, 80)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
