package gateway

import (
	"context"
	"errors"

	"github.com/graft-ai/graft/deploy"
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
	return Deployment{Status: string(rec.Status), Reason: rec.StatusReason,
		Serverless: rec.Spec.Type == deploy.Serverless}, nil
}

func (v recordView) Wake(ctx context.Context, name string) error {
	if v.waker == nil {
		return errors.New("no controller runs deployments here")
	}
	return v.waker.Wake(ctx, name)
}
