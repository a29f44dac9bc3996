package server

import (
	"fmt"
	"path/filepath"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/graft-ai/graft/engine"
)

// Options describe one engine process: what to load, on which device, with
// which limits, and where to serve it.
type Options struct {
	// Model is a .gguf file or a Hugging Face model directory.
	Model string
	// ServedName is the model id reported in Stats; empty means the model file
	// or folder name without .gguf.
	ServedName string
	// Device is auto (or empty), cpu, cuda or cuda:N; see OpenBackend.
	Device string
	// Threads bounds the CPU backend's threads; 0 means all cores.
	Threads int
	// Quantize, q8_0 or q4_k, quantizes float weight matrices on load (empty:
	// keep the file's formats).
	Quantize string
	// QuantActivations is how the CPU backend computes quantized weights:
	// int8 (or empty) or float; see SetQuantActivations.
	QuantActivations string
	// NoRepack keeps the CPU backend's quantized weights as the file
	// stores them instead of packing them for its kernels (SetRepack).
	NoRepack bool
	// Engine is passed to engine.New, except that AdapterMemoryFraction may
	// replace MaxActiveAdapters.
	Engine engine.Config
	// Tracer, when set, traces each gRPC call, continued from the caller's
	// traceparent, with queue, prefill and decode spans under Generate.
	Tracer trace.TracerProvider
	// AdapterMemoryFraction, on a GPU, sizes the adapter slots to this fraction
	// of free device memory; 0 leaves Engine.MaxActiveAdapters as it is.
	AdapterMemoryFraction float64
	// Listen is "unix:///abs/path.sock", "unix:rel.sock" or "host:port" (port 0
	// picks one). Empty means a unix socket in a fresh directory only this user
	// can enter, removed on exit: nothing else on the machine can reach or
	// replace it.
	Listen string
	// AdapterDirs are the only directories LoadAdapter may read adapters from;
	// empty refuses every path, so a gRPC client can never make the engine
	// open an arbitrary file.
	AdapterDirs []string
	// AllowRequestTemplates lets a request carry its own chat template. Off,
	// only the model's templates render: a template is a program, and one from
	// a client could exhaust the process.
	AllowRequestTemplates bool
	// Drain is how long running streams may take to finish once the server
	// stops; 0 cancels them at once.
	Drain time.Duration
}

// ModelID is the id the engine serves the model as.
func (o *Options) ModelID() string {
	if o.ServedName != "" {
		return o.ServedName
	}
	base := filepath.Base(filepath.Clean(o.Model))
	if engine.IsGGUF(base) {
		base = base[:len(base)-len(".gguf")]
	}
	return base
}

// OptionError is an Options field whose value cannot work, as opposed to a
// failure of the machine (a missing GPU, an unreadable model file). A caller
// that takes options from a person reports it as a usage error.
type OptionError struct {
	Field string // the Options field, e.g. "Listen"
	Err   error
}

func (e *OptionError) Error() string { return e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

func optionErrorf(field, format string, args ...any) error {
	return &OptionError{Field: field, Err: fmt.Errorf(format, args...)}
}
