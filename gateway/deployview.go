package gateway

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/internal/peft"
)

// Waker wakes a deployment that has scaled to zero (deploy's controller).
type Waker interface {
	Wake(ctx context.Context, name string) error
}

// FromRecords is the Deployments view over deploy's records in Redis; w
// wakes deployments (nil: a Standby deployment answers 503).
func FromRecords(r deploy.Records, w Waker) Deployments { return recordView{r, w} }

type recordView struct {
	records deploy.Records
	waker   Waker
}

func (v recordView) Lookup(ctx context.Context, name string) (Deployment, error) {
	rec, err := v.records.Get(ctx, name)
	if errors.Is(err, deploy.ErrNotFound) {
		return Deployment{}, ErrNoDeployment
	}
	if err != nil {
		return Deployment{}, err
	}
	private, err := v.records.Store.PrivateAdapters(ctx, name)
	if err != nil {
		return Deployment{}, err
	}
	return Deployment{Status: string(rec.Status), Reason: rec.StatusReason,
		Serverless: rec.Spec.Type == deploy.Serverless, Owner: rec.Owner, Private: private}, nil
}

// List shows every deployment not Deleted with the adapters a request may
// name: those preloaded, those some replica holds, the folders of its local
// adapter source, and its private adapters.
func (v recordView) List(ctx context.Context) ([]Listing, error) {
	recs, err := v.records.List(ctx)
	if err != nil {
		return nil, err
	}
	reps, err := v.records.Store.AllReplicas(ctx)
	if err != nil {
		return nil, err
	}
	var out []Listing
	for _, r := range recs {
		if r.Status == deploy.Deleted {
			continue
		}
		names := slices.Clone(r.Spec.PreloadedAdapters)
		for _, rep := range reps {
			if rep.Deployment == r.Name {
				names = append(names, rep.Adapters...)
			}
		}
		if root, err := r.Spec.AdapterRoot(); err == nil && root != "" {
			names = append(names, localAdapters(root)...)
		}
		private, err := v.records.Store.PrivateAdapters(ctx, r.Name)
		if err != nil {
			return nil, err
		}
		// Private adapters (a tenant's fine-tuned ones) live outside the
		// adapter root; /v1/models shows each to its owner only.
		for a := range private {
			names = append(names, a)
		}
		slices.Sort(names)
		out = append(out, Listing{Name: r.Name, Created: r.Created, Adapters: slices.Compact(names),
			Deployment: Deployment{Status: string(r.Status), Reason: r.StatusReason, Serverless: r.Spec.Type == deploy.Serverless,
				Owner: r.Owner, Private: private}})
	}
	return out, nil
}

func (v recordView) Wake(ctx context.Context, name string) error {
	if v.waker == nil {
		return errors.New("no controller runs deployments here")
	}
	return v.waker.Wake(ctx, name)
}

// localAdapters names the folders of root whose adapter_config.json is valid.
func localAdapters(root string) []string {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if _, err := peft.ReadConfig(filepath.Join(root, e.Name())); e.IsDir() && err == nil {
			names = append(names, e.Name())
		}
	}
	return names
}
