package modelsource

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Files of a Hugging Face model folder that the engine reads.
const (
	ConfigFile  = "config.json"
	SingleFile  = "model.safetensors"
	IndexFile   = "model.safetensors.index.json"
	maxIndexLen = 64 << 20
)

// sideFiles are fetched beside safetensors weights when the repository has
// them: the tokenizer in its forms, the chat template and generation settings.
var sideFiles = []string{
	"tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
	"added_tokens.json", "vocab.json", "merges.txt", "generation_config.json",
	"chat_template.jinja", "chat_template.json",
}

// ErrNoWeights: the repository holds nothing the engine can load.
var ErrNoWeights = errors.New("no weights the engine loads")

// plan is what to fetch from one listing: files first; when index is set, the
// shards its weight_map names once it has been fetched.
type plan struct {
	files []string
	index bool
	gguf  string // the .gguf file loaded, when the model is one
}

// choose decides the files to fetch for ref from the repository's listing.
func choose(ref Ref, listing []string) (plan, error) {
	has := func(n string) bool { return slices.Contains(listing, n) }
	if ref.File != "" {
		if !has(ref.File) {
			return plan{}, fmt.Errorf("%w: the repository has no %s%s", ErrNoWeights, ref.File, ggufHint(listing))
		}
		return plan{files: []string{ref.File}, gguf: ref.File}, nil
	}
	if has(IndexFile) || has(SingleFile) {
		if !has(ConfigFile) {
			return plan{}, fmt.Errorf("%w: safetensors weights without %s", ErrNoWeights, ConfigFile)
		}
		p := plan{files: []string{ConfigFile}}
		for _, n := range sideFiles {
			if has(n) {
				p.files = append(p.files, n)
			}
		}
		if has(IndexFile) { // as vLLM: the index, when there is one, says which shards
			p.files, p.index = append(p.files, IndexFile), true
		} else {
			p.files = append(p.files, SingleFile)
		}
		return p, nil
	}
	ggufs := ggufFiles(listing)
	switch len(ggufs) {
	case 0:
		return plan{}, fmt.Errorf("%w: want %s (or %s with its shards) and %s, or a .gguf file; the repository has %s",
			ErrNoWeights, SingleFile, IndexFile, ConfigFile, listFiles(listing))
	case 1:
		return plan{files: ggufs, gguf: ggufs[0]}, nil
	}
	return plan{}, fmt.Errorf("%w: the repository holds %d .gguf files; name one as %s%s/FILE.gguf: %s",
		ErrNoWeights, len(ggufs), Scheme, ref.Repo, strings.Join(ggufs, ", "))
}

func ggufFiles(listing []string) []string {
	var out []string
	for _, n := range listing {
		if strings.HasSuffix(strings.ToLower(n), ".gguf") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func ggufHint(listing []string) string {
	if g := ggufFiles(listing); len(g) > 0 {
		return " (its .gguf files: " + strings.Join(g, ", ") + ")"
	}
	return ""
}

// listFiles names up to 20 files, for errors.
func listFiles(listing []string) string {
	if len(listing) == 0 {
		return "no files"
	}
	l := slices.Sorted(slices.Values(listing))
	if len(l) > 20 {
		return strings.Join(l[:20], ", ") + fmt.Sprintf(" and %d more", len(l)-20)
	}
	return strings.Join(l, ", ")
}

// shards reads the weight_map of a fetched index: the shard files, each once,
// sorted, all of them in the listing.
func shards(dir string, listing []string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, IndexFile))
	if err != nil {
		return nil, err
	}
	if len(b) > maxIndexLen {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrNoWeights, IndexFile, maxIndexLen)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNoWeights, IndexFile, err)
	}
	seen := map[string]bool{}
	for _, f := range idx.WeightMap {
		seen[f] = true
	}
	var out []string
	for f := range seen {
		if !slices.Contains(listing, f) {
			return nil, fmt.Errorf("%w: %s maps tensors to %s, which the repository does not have", ErrNoWeights, IndexFile, f)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s maps no tensors", ErrNoWeights, IndexFile)
	}
	sort.Strings(out)
	return out, nil
}
