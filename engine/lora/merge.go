package lora

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/graft-ai/graft/engine/model"
)

// Merge strategies, LoRAX's names for PEFT's add_weighted_adapter combination types.
const (
	MergeLinear     = "linear"
	MergeTIES       = "ties"
	MergeDARELinear = "dare_linear"
	MergeDARETIES   = "dare_ties"
)

// Majority sign methods of TIES and DARE-TIES.
const (
	SignTotal     = "total"
	SignFrequency = "frequency"
)

// MergeSpec says how to combine adapters: one weight per adapter, the
// strategy, the density kept by TIES's magnitude pruning or DARE's random
// pruning (1 keeps everything), TIES's sign election, and the seed of DARE's
// pruning.
type MergeSpec struct {
	Weights      []float64
	Strategy     string
	Density      float64
	MajoritySign string
	Seed         uint64
}

// Check reports the first field that cannot work, by its name in the spec.
func (s *MergeSpec) Check(n int) (field string, err error) {
	switch {
	case len(s.Weights) != n:
		return "weights", fmt.Errorf("weights has %d values for %d adapters: give one weight per adapter", len(s.Weights), n)
	case !slices.Contains([]string{MergeLinear, MergeTIES, MergeDARELinear, MergeDARETIES}, s.Strategy):
		return "merge_strategy", fmt.Errorf("merge_strategy %q is not one of linear, ties, dare_linear, dare_ties", s.Strategy)
	case !(s.Density > 0 && s.Density <= 1):
		return "density", fmt.Errorf("density must be in (0, 1], got %v", s.Density)
	case s.MajoritySign != SignTotal && s.MajoritySign != SignFrequency:
		return "majority_sign_method", fmt.Errorf("majority_sign_method %q is not one of total, frequency", s.MajoritySign)
	}
	for _, w := range s.Weights {
		// PEFT scales both factors by sqrt(weight·scale): a weight must be positive.
		if !(w > 0) || math.IsInf(w, 0) {
			return "weights", fmt.Errorf("weights must be positive and finite, got %v", w)
		}
	}
	return "", nil
}

// Merge combines adapters into one as PEFT's add_weighted_adapter does for
// the linear, ties, dare_linear and dare_ties combination types: per module,
// each adapter's lora_A and lora_B are weighted by sqrt(weight·scale) and
// combined factor by factor (summed, or pruned and sign-elected first); the
// result has scale 1. Adapters that do not target a module are left out of
// it. PEFT refuses adapters of different ranks; here the smaller are padded
// with zero rows of A and columns of B, which for equal ranks changes nothing.
// DARE's random pruning is drawn from Seed: the same spec merges the same.
func Merge(adapters []*Adapter, spec MergeSpec) (*Adapter, error) {
	if len(adapters) == 0 {
		return nil, errors.New("no adapters to merge")
	}
	if field, err := spec.Check(len(adapters)); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	layers := len(adapters[0].Weights)
	out := &Adapter{Weights: make([][model.NumModules]*model.HostLoRA, layers)}
	used := [model.NumModules]bool{}
	for layer := range layers {
		for mod := range model.NumModules {
			h, err := mergeModule(adapters, spec, layer, mod)
			if err != nil {
				return nil, err
			}
			if h == nil {
				continue
			}
			out.Weights[layer][mod], used[mod] = h, true
			out.Rank = max(out.Rank, h.Rank)
			out.SizeBytes += int64(4 * (len(h.A) + len(h.B)))
		}
	}
	for mod, ok := range used {
		if ok {
			out.Modules = append(out.Modules, model.ModuleNames[mod])
		}
	}
	return out, nil
}

// factor is one adapter's lora_A or lora_B of a module, with its place.
type factor struct {
	data   []float32
	rows   int // A: rank rows of in; B: out rows of rank
	cols   int
	weight float32 // sqrt(weight·scale)
	stream uint64  // DARE's random stream for this tensor
}

func mergeModule(adapters []*Adapter, spec MergeSpec, layer, mod int) (*model.HostLoRA, error) {
	var as, bs []factor
	rank := 0
	for i, a := range adapters {
		if layer >= len(a.Weights) {
			return nil, fmt.Errorf("adapter %d has %d layers, the first %d", i, len(a.Weights), len(adapters[0].Weights))
		}
		h := a.Weights[layer][mod]
		if h == nil {
			continue
		}
		w := float32(math.Sqrt(spec.Weights[i] * float64(h.Scale)))
		id := uint64(i)<<40 | uint64(layer)<<16 | uint64(mod)<<1
		as = append(as, factor{data: h.A, rows: h.Rank, cols: len(h.A) / h.Rank, weight: w, stream: id})
		bs = append(bs, factor{data: h.B, rows: len(h.B) / h.Rank, cols: h.Rank, weight: w, stream: id | 1})
		rank = max(rank, h.Rank)
	}
	if len(as) == 0 {
		return nil, nil
	}
	for i := range as {
		if as[i].cols != as[0].cols || bs[i].rows != bs[0].rows {
			return nil, fmt.Errorf("layer %d %s: adapters disagree on the module's shape", layer, model.ModuleNames[mod])
		}
	}
	// Prune each adapter's own entries, then pad to the common rank: A gains
	// zero rows, B zero columns.
	for i := range as {
		as[i].data = prune(as[i], spec)
		bs[i].data = prune(bs[i], spec)
		as[i].data, as[i].rows = padRows(as[i].data, as[i].rows, as[i].cols, rank), rank
		bs[i].data, bs[i].cols = padCols(bs[i].data, bs[i].rows, bs[i].cols, rank), rank
	}
	return &model.HostLoRA{A: combine(as, spec), B: combine(bs, spec), Rank: rank, Scale: 1}, nil
}

// prune sparsifies one factor as the strategy says: TIES by magnitude, DARE
// at random; linear keeps it whole.
func prune(f factor, spec MergeSpec) []float32 {
	switch spec.Strategy {
	case MergeTIES:
		return magnitudePrune(f.data, spec.Density)
	case MergeDARELinear, MergeDARETIES:
		return randomPrune(f.data, spec.Density, spec.Seed, f.stream)
	}
	return f.data
}

func padRows(d []float32, rows, cols, to int) []float32 {
	if rows == to {
		return d
	}
	return append(slices.Clone(d), make([]float32, (to-rows)*cols)...)
}

func padCols(d []float32, rows, cols, to int) []float32 {
	if cols == to {
		return d
	}
	out := make([]float32, rows*to)
	for r := range rows {
		copy(out[r*to:], d[r*cols:(r+1)*cols])
	}
	return out
}

// combine merges one factor of every adapter, pruned and padded to one shape:
// a weighted sum (linear, dare_linear) or TIES's disjoint merge.
func combine(fs []factor, spec MergeSpec) []float32 {
	pruned := make([][]float32, len(fs))
	for i, f := range fs {
		pruned[i] = f.data
	}
	n := len(fs[0].data)
	out := make([]float32, n)
	if spec.Strategy == MergeLinear || spec.Strategy == MergeDARELinear {
		for j := range n {
			var s float32
			for i, p := range pruned {
				s += p[j] * fs[i].weight
			}
			out[j] = s
		}
		return out
	}
	for j := range n {
		out[j] = disjointMerge(pruned, fs, j, spec.MajoritySign)
	}
	return out
}

// disjointMerge is TIES's step for one entry: elect the sign from the pruned,
// unweighted entries (their sum, or the count of each sign), then average the
// weighted entries that carry it.
func disjointMerge(pruned [][]float32, fs []factor, j int, method string) float32 {
	var elect float32
	for _, p := range pruned {
		if method == SignTotal {
			elect += p[j]
		} else {
			elect += sign(p[j])
		}
	}
	majority := float32(1)
	if elect < 0 {
		majority = -1
	}
	var sum float32
	kept := 0
	for i, p := range pruned {
		if sign(p[j]) == majority {
			sum += p[j] * fs[i].weight
			kept++
		}
	}
	return sum / float32(max(kept, 1))
}

func sign(v float32) float32 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// magnitudePrune keeps the int(density·len) entries of largest magnitude,
// as PEFT's magnitude_based_pruning (ties broken by position).
func magnitudePrune(d []float32, density float64) []float32 {
	if density >= 1 {
		return d
	}
	k := int(density * float64(len(d)))
	idx := make([]int, len(d))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		return cmp.Compare(math.Abs(float64(d[b])), math.Abs(float64(d[a])))
	})
	out := make([]float32, len(d))
	for _, i := range idx[:k] {
		out[i] = d[i]
	}
	return out
}

// randomPrune keeps each entry with probability density and rescales the kept
// ones by 1/density, as PEFT's random_pruning with rescale. The draw for entry
// j of a tensor is DAREUniform(seed, stream, j): reproducible, and computable
// by any implementation of the same formula.
func randomPrune(d []float32, density float64, seed, stream uint64) []float32 {
	if density >= 1 {
		return d
	}
	out := make([]float32, len(d))
	base := DAREStream(seed, stream)
	for j, v := range d {
		if DAREUniform(base, j) < density {
			out[j] = v / float32(density)
		}
	}
	return out
}

const golden = 0x9e3779b97f4a7c15

func splitmix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// DAREStream is the state DARE's draws for one tensor start from: seed mixed,
// then the tensor's stream id (adapter<<40 | layer<<16 | module<<1 | isB) mixed in.
func DAREStream(seed, stream uint64) uint64 { return splitmix(splitmix(seed) ^ stream) }

// DAREUniform is draw j in [0, 1) of a tensor's stream: SplitMix64's
// (j+1)-th output from state base, its top 53 bits.
func DAREUniform(base uint64, j int) float64 {
	return float64(splitmix(base+uint64(j+1)*golden)>>11) / (1 << 53)
}
