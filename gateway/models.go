package gateway

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extproc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

// model is one entry of OpenAI's model list; adapters name their
// deployment as parent, as vLLM lists LoRA adapters.
type model struct {
	ID      string  `json:"id"`
	Object  string  `json:"object"`
	Created int64   `json:"created"`
	OwnedBy string  `json:"owned_by"`
	Parent  *string `json:"parent"`
	Root    string  `json:"root"`
}

// models answers GET /v1/models with what tenant may use.
func (g *Gateway) models(ctx context.Context, tenant string) *extproc.ProcessingResponse {
	ls, err := g.deployments.List(ctx)
	if err != nil {
		return g.refuse(unavailable("the deployments' state is unreachable; try again", 0))
	}
	slices.SortFunc(ls, func(a, b Listing) int { return strings.Compare(a.Name, b.Name) })
	data := []model{}
	for _, l := range ls {
		if !l.Deployment.mayUse(tenant) {
			continue
		}
		created := l.Created.Unix()
		data = append(data, model{ID: l.Name, Object: "model", Created: created, OwnedBy: "graft", Root: l.Name})
		for _, a := range l.Adapters {
			if !l.Deployment.mayUseAdapter(tenant, a) {
				continue
			}
			parent := l.Name
			data = append(data, model{ID: l.Name + "/" + a, Object: "model", Created: created, OwnedBy: "graft",
				Parent: &parent, Root: a})
		}
	}
	body, _ := json.Marshal(struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{"list", data})
	g.metrics.requests.WithLabelValues("models").Inc()
	return &extproc.ProcessingResponse{Response: &extproc.ProcessingResponse_ImmediateResponse{
		ImmediateResponse: &extproc.ImmediateResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode_OK},
			Headers: &extproc.HeaderMutation{SetHeaders: []*core.HeaderValueOption{header("content-type", "application/json")}},
			Body:    body,
		},
	}}
}
