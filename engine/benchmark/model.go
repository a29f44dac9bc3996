package benchmark

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/graft-ai/graft/engine/randmodel"
)

// Files are the two copies of the benchmark model.
type Files struct {
	GGUF, HF  string
	Reused    bool
	writeTime time.Duration
}

// writeModel writes s as F32 GGUF and F32 safetensors under dir, unless a
// previous run left both there. Each copy is written under a temporary name and
// renamed, so an interrupted run never leaves a half file that looks complete.
func writeModel(dir string, s randmodel.Spec, log io.Writer) (Files, error) {
	base := filepath.Join(dir, fmt.Sprintf("llama-d%d-l%d-h%d-f%d-v%d-seed%d-f32", s.Dim, s.Layers, s.Heads, s.FFN, s.Vocab, s.Seed))
	f := Files{GGUF: base + ".gguf", HF: base + "-hf"}
	if exists(f.GGUF) && exists(f.HF) {
		f.Reused = true
		return f, nil
	}
	fmt.Fprintf(log, "writing the random model to %s\n", dir)
	start := time.Now()
	w := s.Weights()
	if err := writeAtomically(f.GGUF, func(tmp string) error { return randmodel.WriteGGUFWeights(tmp, s, w, "F32") }); err != nil {
		return f, err
	}
	if err := writeAtomically(f.HF, func(tmp string) error { return randmodel.WriteHFWeights(tmp, s, w, "F32", 1) }); err != nil {
		return f, err
	}
	f.writeTime = time.Since(start)
	// The weights map is as large as the model: return it to the OS so that it
	// does not count in the engine's peak RSS.
	w = nil
	runtime.GC()
	debug.FreeOSMemory()
	return f, nil
}

func writeAtomically(path string, write func(tmp string) error) error {
	tmp := path + ".partial"
	_ = os.RemoveAll(tmp)
	if err := write(tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	_ = os.RemoveAll(path)
	return os.Rename(tmp, path)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
