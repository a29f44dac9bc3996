package state

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// SetAdapterOwner makes adapter of deployment private to tenant, or public
// again when tenant is "". A fine-tuning job publishes its adapter this way,
// so only the tenant that trained it can name it.
func (s *Store) SetAdapterOwner(ctx context.Context, deployment, adapter, tenant string) error {
	if err := CheckName(deployment); err != nil {
		return fmt.Errorf("deployment %w", err)
	}
	if adapter == "" {
		return fmt.Errorf("adapter name is empty")
	}
	key := PrivateAdaptersKey(deployment)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if tenant == "" {
			p.HDel(ctx, key, adapter)
		} else {
			p.HSet(ctx, key, adapter, tenant)
		}
		p.Publish(ctx, Channel, mustJSON(Change{Kind: KindDeploymentAdapterOwner, Deployment: deployment, Adapter: adapter}))
		return nil
	})
	return err
}

// PrivateAdapters maps each private adapter of deployment to its tenant.
func (s *Store) PrivateAdapters(ctx context.Context, deployment string) (map[string]string, error) {
	if err := CheckName(deployment); err != nil {
		return nil, fmt.Errorf("deployment %w", err)
	}
	return s.rdb.HGetAll(ctx, PrivateAdaptersKey(deployment)).Result()
}
