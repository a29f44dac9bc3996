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

	// A deployment's record changed: status, spec or counters. (A deleted
	// deployment keeps its record with status Deleted, so deployment.status
	// announces that too; deployment.deleted stays reserved.)
	KindDeploymentStatus  = "deployment.status"
	KindDeploymentDeleted = "deployment.deleted"
	// Who may use one of the deployment's adapters changed.
	KindDeploymentAdapterOwner = "deployment.adapter_owner"
)

// Change is the payload published on Channel.
type Change struct {
	Kind       string `json:"kind"`
	Deployment string `json:"deployment"`
	Replica    string `json:"replica,omitempty"` // replica.* and adapter.* kinds
	Adapter    string `json:"adapter,omitempty"` // adapter.* kinds
	APIKey     string `json:"api_key,omitempty"` // apikey.* kinds: the key's hash
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

func mustJSON(c Change) []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // a struct of strings always marshals
	}
	return b
}

// Subscribe delivers every Change published from now on until ctx ends;
// malformed messages are dropped. Messages sent while the connection is down
// are lost, so a reader also re-reads the keys it cares about now and then.
// It returns once Redis has confirmed the subscription, so a caller that
// subscribes and then reads misses no change made after its read.
func (s *Store) Subscribe(ctx context.Context) (<-chan Change, error) {
	sub := s.rdb.Subscribe(ctx, Channel)
	if _, err := sub.Receive(ctx); err != nil {
		sub.Close()
		return nil, err
	}
	out := make(chan Change, 16)
	go func() {
		defer close(out)
		defer sub.Close()
		msgs := sub.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-msgs:
				if !ok {
					return
				}
				c, err := ParseChange(m.Payload)
				if err != nil {
					continue
				}
				select {
				case out <- c:
				default: // a slow reader re-reads the keys anyway
				}
			}
		}
	}()
	return out, nil
}

// Publish announces c on Channel.
func (s *Store) Publish(ctx context.Context, c Change) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return s.rdb.Publish(ctx, Channel, b).Err()
}
