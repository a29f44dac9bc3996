package state

import (
	"context"
	"encoding/json"
	"fmt"
)

// Channel carries one JSON Change for every change a writer makes.
const Channel = "graft:changes"

// Change kinds. Readers re-read the keys a Change names rather than trusting
// its payload, so a late or duplicated message does no harm.
const (
	KindReplicaUp       = "replica.up"    // the replica's hash appeared: start, or after expiry or a Redis restart
	KindReplicaState    = "replica.state" // Replica.State changed
	KindReplicaDown     = "replica.down"  // clean shutdown: both keys deleted
	KindAdapterLoaded   = "adapter.loaded"
	KindAdapterUnloaded = "adapter.unloaded"

	// Reserved for the deployment records.
	KindDeploymentStatus  = "deployment.status"
	KindDeploymentDeleted = "deployment.deleted"
)

// Change is the payload published on Channel.
type Change struct {
	Kind       string `json:"kind"`
	Deployment string `json:"deployment"`
	Replica    string `json:"replica,omitempty"` // replica.* and adapter.* kinds
	Adapter    string `json:"adapter,omitempty"` // adapter.* kinds
}

// ParseChange decodes a message received on Channel.
func ParseChange(payload string) (Change, error) {
	var c Change
	if err := json.Unmarshal([]byte(payload), &c); err != nil {
		return Change{}, fmt.Errorf("state change %q: %w", payload, err)
	}
	if c.Kind == "" {
		return Change{}, fmt.Errorf("state change %q: no kind", payload)
	}
	return c, nil
}

// Publish announces c on Channel.
func (s *Store) Publish(ctx context.Context, c Change) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return s.rdb.Publish(ctx, Channel, b).Err()
}
