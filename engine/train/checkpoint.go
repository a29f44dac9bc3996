package train

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/graft-ai/graft/engine/safetensors"
)

// checkpointState is state.json of a checkpoint; it is written last, so a
// folder without it is an interrupted write and is ignored.
type checkpointState struct {
	Step    int    `json:"step"`
	Total   int    `json:"total_steps"`
	Dropout []byte `json:"dropout_rng"` // PCG state
	Job     string `json:"job"`         // fingerprint of what must not change across a resume
}

// fingerprint is the part of a Config a checkpoint is only valid for.
func fingerprint(c Config) string {
	return fmt.Sprintf("%s|%s|%d|%d|%d|%d|%g|%v|%v|%d|%d", c.BaseModel, c.TrainFile, c.Epochs, c.BatchSize,
		c.GradAccum, c.Rank, c.Alpha, c.RSLoRA, c.TargetModules, c.Seed, c.MaxSeqLen)
}

const checkpointPrefix = "checkpoint-"

// saveCheckpoint writes params and optimizer moments, then state.json, and
// drops older checkpoints.
func saveCheckpoint(dir string, st checkpointState, params [][]float32, opt *adamW) error {
	final := filepath.Join(dir, fmt.Sprintf("%s%08d", checkpointPrefix, st.Step))
	tmp := final + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	var ts []safetensors.TensorData
	for i, p := range params {
		for _, t := range []struct {
			kind string
			data []float32
		}{{"p", p}, {"m", opt.m[i]}, {"v", opt.v[i]}} {
			ts = append(ts, safetensors.TensorData{Name: fmt.Sprintf("%s%04d", t.kind, i), DType: safetensors.F32, Shape: []int{len(t.data)}, Data: t.data})
		}
	}
	if err := safetensors.WriteFile(filepath.Join(tmp, "state.safetensors"), ts, nil); err != nil {
		return err
	}
	js, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "state.json"), js, 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(final); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	old, _ := checkpoints(dir)
	for _, o := range old {
		if o != final {
			os.RemoveAll(o)
		}
	}
	return nil
}

// checkpoints lists complete checkpoint folders, oldest first.
func checkpoints(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, checkpointPrefix) || strings.HasSuffix(name, ".tmp") {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, name, "state.json")); err == nil {
			out = append(out, filepath.Join(dir, name))
		}
	}
	sort.Strings(out) // zero-padded step numbers sort in order
	return out, nil
}

// loadCheckpoint restores the latest checkpoint of dir into params and opt;
// ok is false when there is none.
func loadCheckpoint(dir string, cfg Config, params [][]float32, opt *adamW, rng *rand.PCG) (st checkpointState, ok bool, err error) {
	list, err := checkpoints(dir)
	if err != nil || len(list) == 0 {
		return st, false, nil
	}
	latest := list[len(list)-1]
	js, err := os.ReadFile(filepath.Join(latest, "state.json"))
	if err != nil {
		return st, false, err
	}
	if err := json.Unmarshal(js, &st); err != nil {
		return st, false, fmt.Errorf("checkpoint %s: %w", latest, err)
	}
	if st.Job != fingerprint(cfg) {
		return st, false, fmt.Errorf("checkpoint %s was made by a different job (model, data or hyper-parameters changed); remove it to start over", latest)
	}
	f, err := safetensors.Open(filepath.Join(latest, "state.safetensors"))
	if err != nil {
		return st, false, err
	}
	defer f.Close()
	for i, p := range params {
		for _, t := range []struct {
			kind string
			dst  []float32
		}{{"p", p}, {"m", opt.m[i]}, {"v", opt.v[i]}} {
			data, _, err := f.Float32(fmt.Sprintf("%s%04d", t.kind, i))
			if err != nil || len(data) != len(t.dst) {
				return st, false, fmt.Errorf("checkpoint %s: tensor %s%04d missing or of the wrong size", latest, t.kind, i)
			}
			copy(t.dst, data)
		}
	}
	if err := rng.UnmarshalBinary(st.Dropout); err != nil {
		return st, false, fmt.Errorf("checkpoint %s: dropout generator state: %w", latest, err)
	}
	opt.step = st.Step
	return st, true, nil
}
