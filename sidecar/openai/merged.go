package openai

import (
	"context"
	"math"
	"slices"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// maxMerged bounds the adapters one request merges (the engine's own bound).
const maxMerged = 16

// mergedAdapters is the "adapters" body field, LoRAX's merged adapters, which
// the OpenAI SDKs send through extra_body: the request runs on these adapters
// merged into one, on the base model named in "model".
type mergedAdapters struct {
	IDs                []string  `json:"ids"`
	Weights            []float64 `json:"weights"`
	MergeStrategy      string    `json:"merge_strategy"`
	Density            *float64  `json:"density"`
	MajoritySignMethod string    `json:"majority_sign_method"`
	Seed               *uint64   `json:"seed"`
}

var (
	mergeStrategies = []string{"linear", "ties", "dare_linear", "dare_ties"}
	signMethods     = []string{"total", "frequency"}
)

// check refuses what the engine would, naming the field as the client sent it.
func (m *mergedAdapters) check() *apiError {
	switch {
	case len(m.IDs) == 0:
		return badRequest("adapters.ids", "adapters.ids must list the adapters to merge")
	case len(m.IDs) > maxMerged:
		return badRequest("adapters.ids", "adapters.ids lists %d adapters; at most %d can be merged", len(m.IDs), maxMerged)
	case len(m.Weights) != 0 && len(m.Weights) != len(m.IDs):
		return badRequest("adapters.weights", "adapters.weights has %d values for %d adapters: give one weight per adapter", len(m.Weights), len(m.IDs))
	case m.MergeStrategy != "" && !slices.Contains(mergeStrategies, m.MergeStrategy):
		return badRequest("adapters.merge_strategy", "adapters.merge_strategy %q is not one of linear, ties, dare_linear, dare_ties", m.MergeStrategy)
	case m.Density != nil && !(*m.Density > 0 && *m.Density <= 1):
		return badRequest("adapters.density", "adapters.density must be in (0, 1], got %v", *m.Density)
	case m.MajoritySignMethod != "" && !slices.Contains(signMethods, m.MajoritySignMethod):
		return badRequest("adapters.majority_sign_method", "adapters.majority_sign_method %q is not one of total, frequency", m.MajoritySignMethod)
	}
	for i, id := range m.IDs {
		if id == "" || slices.Contains(m.IDs[:i], id) {
			return badRequest("adapters.ids", "adapters.ids must be distinct, non-empty adapter ids")
		}
	}
	for _, w := range m.Weights {
		if !(w > 0) || math.IsInf(w, 0) {
			return badRequest("adapters.weights", "adapters.weights must be positive numbers, got %v", w)
		}
	}
	return nil
}

// mergeInto checks the request's "adapters", makes sure each one is loaded in
// the engine and asks the engine to run j on their merge; nothing when the
// request has none. Merging applies to the base model: "model" must name it,
// not an adapter.
func (s *Server) mergeInto(ctx context.Context, j *job, m *mergedAdapters) *apiError {
	if m == nil {
		return nil
	}
	if e := m.check(); e != nil {
		return e
	}
	if j.adapter != "" {
		return badRequest("adapters", "adapters are merged onto the base model: set model to the base model, not the adapter %q", j.adapter)
	}
	for _, id := range m.IDs {
		if err := s.adapter.ensure(ctx, id); err != nil {
			e := adapterError(id, err)
			if e.Param != nil && *e.Param == "model" {
				e.Param = strPtr("adapters.ids")
			}
			return e
		}
	}
	j.gen.MergedAdapters = &enginev1.MergedAdapters{Ids: m.IDs, Weights: m.Weights, MergeStrategy: m.MergeStrategy,
		Density: m.Density, MajoritySignMethod: m.MajoritySignMethod, Seed: m.Seed}
	return nil
}
