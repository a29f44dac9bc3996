package openai

import (
	"encoding/json"
	"net/http"
	"slices"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// modelCard follows vLLM: adapters name the base model as parent, and root is
// the model (or adapter) the card stands for.
type modelCard struct {
	ID          string  `json:"id"`
	Object      string  `json:"object"`
	Created     int64   `json:"created"`
	OwnedBy     string  `json:"owned_by"`
	Root        string  `json:"root"`
	Parent      *string `json:"parent"`
	MaxModelLen int     `json:"max_model_len,omitempty"`
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	base, err := s.baseModel(r.Context())
	if err != nil {
		writeError(w, fromRPC(err, nil))
		return
	}
	cards := []modelCard{{ID: base, Object: "model", Created: s.created, OwnedBy: "graft", Root: base}}
	if st, err := s.engine.Stats(r.Context(), &enginev1.StatsRequest{}); err == nil {
		cards[0].MaxModelLen = int(st.MaxModelLen)
	}
	for _, id := range s.adapterIDs(r) {
		cards = append(cards, modelCard{ID: id, Object: "model", Created: s.created, OwnedBy: "graft", Root: id, Parent: &base})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": cards})
}

// adapterIDs is every adapter this pod can serve: loaded in the engine, or in
// its source (which lists only adapters that validate) and not refused by the
// engine.
func (s *Server) adapterIDs(r *http.Request) []string {
	var ids []string
	if src := s.adapter.source; src != nil {
		if list, err := src.List(r.Context()); err == nil {
			ids = slices.DeleteFunc(list, s.adapter.wasRefused)
		}
	}
	if la, err := s.engine.ListAdapters(r.Context(), &enginev1.ListAdaptersRequest{}); err == nil {
		for _, a := range la.Adapters {
			if !a.Merged { // made for one request's "adapters", not a model to name
				ids = append(ids, a.AdapterId)
			}
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}
