package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// Hugging Face's file names for a single-file and a sharded checkpoint.
const (
	SingleFile = "model.safetensors"
	IndexFile  = "model.safetensors.index.json"
)

// Model is a checkpoint directory: one file or several shards behind one
// lookup by tensor name.
type Model struct {
	files []*File
	owner map[string]*File
}

// index is the shard index file's content.
type index struct {
	Metadata  map[string]any    `json:"metadata,omitempty"`
	WeightMap map[string]string `json:"weight_map"`
}

// OpenModel opens dir/model.safetensors, or, when that is absent, the shards
// listed in dir/model.safetensors.index.json.
func OpenModel(dir string) (*Model, error) {
	f, err := Open(filepath.Join(dir, SingleFile))
	if err == nil {
		return &Model{files: []*File{f}, owner: owners(f)}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	idx, err := readIndex(filepath.Join(dir, IndexFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("safetensors: %s has neither %s nor %s", dir, SingleFile, IndexFile)
		}
		return nil, err
	}
	m := &Model{owner: map[string]*File{}}
	if err := m.openShards(dir, idx); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func owners(f *File) map[string]*File {
	o := make(map[string]*File, len(f.tensors))
	for _, t := range f.tensors {
		o[t.Name] = f
	}
	return o
}

func readIndex(path string) (*index, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var idx index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, path, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("%w: %s has no weight_map", ErrFormat, path)
	}
	return &idx, nil
}

// openShards opens each shard once, checks that every weight_map entry is in
// the shard it names, and refuses a tensor that two shards both hold.
func (m *Model) openShards(dir string, idx *index) error {
	byName := map[string]*File{}
	for _, shard := range slices.Sorted(maps.Values(idx.WeightMap)) {
		if byName[shard] != nil {
			continue
		}
		// The index is data: keep it from naming files outside dir.
		if !filepath.IsLocal(shard) || filepath.Base(shard) != shard {
			return fmt.Errorf("%w: shard name %q in %s is not a plain file name", ErrFormat, shard, IndexFile)
		}
		f, err := Open(filepath.Join(dir, shard))
		if err != nil {
			return err
		}
		byName[shard] = f
		m.files = append(m.files, f)
		for _, t := range f.tensors {
			if m.owner[t.Name] != nil {
				return fmt.Errorf("%w: tensor %q is in more than one shard", ErrFormat, t.Name)
			}
			m.owner[t.Name] = f
		}
	}
	for name, shard := range idx.WeightMap {
		if m.owner[name] != byName[shard] {
			return fmt.Errorf("%w: %s puts %q in %s, which does not hold it", ErrFormat, IndexFile, name, shard)
		}
	}
	return nil
}

// Close closes every file of the model.
func (m *Model) Close() error {
	var errs []error
	for _, f := range m.files {
		errs = append(errs, f.Close())
	}
	m.files, m.owner = nil, nil
	return errors.Join(errs...)
}

// Names lists every tensor name, sorted.
func (m *Model) Names() []string {
	return slices.Sorted(maps.Keys(m.owner))
}

// Tensor returns the named tensor's description.
func (m *Model) Tensor(name string) (Tensor, bool) {
	f := m.owner[name]
	if f == nil {
		return Tensor{}, false
	}
	return f.Tensor(name)
}

// Float32 is File.Float32 on whichever shard holds name.
func (m *Model) Float32(name string) ([]float32, []int, error) {
	f := m.owner[name]
	if f == nil {
		return nil, nil, fmt.Errorf("safetensors: no tensor %q", name)
	}
	return f.Float32(name)
}

// Raw is File.Raw on whichever shard holds name.
func (m *Model) Raw(name string) ([]byte, Tensor, error) {
	f := m.owner[name]
	if f == nil {
		return nil, Tensor{}, fmt.Errorf("safetensors: no tensor %q", name)
	}
	return f.Raw(name)
}

// Metadata returns the first file's __metadata__ (shards normally repeat it).
func (m *Model) Metadata() map[string]string {
	if len(m.files) == 0 {
		return nil
	}
	return m.files[0].Metadata()
}

// WriteShards writes each group of tensors as one shard named like
// transformers does (model-00001-of-00002.safetensors) plus the index file
// mapping every tensor to its shard.
func WriteShards(dir string, shards [][]TensorData, metadata map[string]string) error {
	idx := index{WeightMap: map[string]string{}}
	total := 0
	for i, tensors := range shards {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
		if err := WriteFile(filepath.Join(dir, name), tensors, metadata); err != nil {
			return err
		}
		for _, t := range tensors {
			if _, dup := idx.WeightMap[t.Name]; dup {
				return fmt.Errorf("safetensors: tensor %q in two shards", t.Name)
			}
			idx.WeightMap[t.Name] = name
			n, _ := encode(t)
			total += len(n)
		}
	}
	idx.Metadata = map[string]any{"total_size": total}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, IndexFile), append(b, '\n'), 0o644)
}
