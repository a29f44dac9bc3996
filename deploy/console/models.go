package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/state"
)

// servableAdapters asks a ready replica which adapters it can serve (its
// adapter sources' and its engine's, as its /v1/models lists them).
func (c *Console) servableAdapters(r *http.Request, replicas []state.Replica) ([]string, error) {
	for _, rp := range replicas {
		if rp.State != state.StateReady || rp.Addr == "" {
			continue
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		return c.replicaModels(ctx, rp.Addr)
	}
	return nil, nil
}

func (c *Console) replicaModels(ctx context.Context, addr string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/v1/models", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("listing the adapters of replica %s: %w", addr, err)
	}
	defer resp.Body.Close()
	var list struct {
		Data []struct {
			ID     string  `json:"id"`
			Parent *string `json:"parent"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("listing the adapters of replica %s: %s", addr, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, fmt.Errorf("listing the adapters of replica %s: %w", addr, err)
	}
	var ids []string
	for _, m := range list.Data {
		if m.Parent != nil {
			ids = append(ids, m.ID)
		}
	}
	return ids, nil
}

// modelOption is one choice of the playground's model list.
type modelOption struct {
	Value, Status string
}

// modelOptions lists deployment and deployment/adapter for every
// deployment that is not deleted, the playground's choices.
func (c *Console) modelOptions(w http.ResponseWriter, r *http.Request) {
	recs, err := c.cfg.Deployments.List(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "state_unavailable", "reading the deployments: "+err.Error())
		return
	}
	slices.SortFunc(recs, func(a, b deploy.Record) int { return strings.Compare(a.Name, b.Name) })
	var opts []modelOption
	for _, rec := range recs {
		if rec.Status == deploy.Deleted {
			continue
		}
		opts = append(opts, modelOption{Value: rec.Name, Status: string(rec.Status)})
		replicas, _ := c.cfg.Store.Replicas(r.Context(), rec.Name)
		servable, _ := c.servableAdapters(r, replicas)
		for _, a := range adapterRows(replicas, rec.Spec.PreloadedAdapters, servable) {
			opts = append(opts, modelOption{Value: rec.Name + "/" + a.ID, Status: string(rec.Status)})
		}
	}
	fragment(w, "model-options", opts)
}
