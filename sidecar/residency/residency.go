// Package residency publishes one engine replica's state to Redis, for the
// gateway, xds and deploy to read:
//
//	replica:{deployment}:{id}    hash: addr, state, queue_depth, running,
//	                             kv_use_pct, adapter_slots_used,
//	                             adapter_slots_total, gpu_mem_used_bytes and
//	                             gpu_mem_total_bytes (when known), updated_ms
//	residency:{deployment}:{id}  set of the adapter ids loaded in the replica
//
// Both keys carry a TTL that each heartbeat refreshes, so a replica that dies
// without cleaning up disappears by itself. Each heartbeat rewrites both keys
// whole, so a Redis restart (or a missed update) heals within one interval.
// Every change is announced on Channel so readers need not wait for a resync.
package residency

import (
	"encoding/json"
	"fmt"
)

// Channel carries a JSON Change for every change a Publisher makes.
const Channel = "graft:changes"

// Change kinds.
const (
	KindReplicaUp       = "replica.up"    // the replica's key appeared (start, or after expiry or a Redis restart)
	KindReplicaState    = "replica.state" // Load.State changed
	KindReplicaDown     = "replica.down"  // clean shutdown: keys deleted
	KindAdapterLoaded   = "adapter.loaded"
	KindAdapterUnloaded = "adapter.unloaded"
)

// Change is the payload published on Channel.
type Change struct {
	Kind       string `json:"kind"`
	Deployment string `json:"deployment"`
	Replica    string `json:"replica"`
	Adapter    string `json:"adapter,omitempty"` // adapter.* kinds only
}

// ReplicaKey and ResidencyKey name a replica's keys.
func ReplicaKey(deployment, replica string) string {
	return fmt.Sprintf("replica:%s:%s", deployment, replica)
}

func ResidencyKey(deployment, replica string) string {
	return fmt.Sprintf("residency:%s:%s", deployment, replica)
}

// ParseChange decodes a message received on Channel.
func ParseChange(payload string) (Change, error) {
	var c Change
	if err := json.Unmarshal([]byte(payload), &c); err != nil {
		return Change{}, fmt.Errorf("residency change %q: %w", payload, err)
	}
	return c, nil
}

// Load is a snapshot of the replica the heartbeat publishes.
type Load struct {
	State             string  // e.g. "ready", "loading", "draining"
	QueueDepth        int     // requests waiting
	Running           int     // requests running
	KVUsePct          float64 // KV cache blocks in use, 0-100
	AdapterSlotsUsed  int
	AdapterSlotsTotal int
	GPUMemUsedBytes   int64 // 0 when unknown (CPU engine, no NVML)
	GPUMemTotalBytes  int64
}

func (l Load) fields(addr string, nowMS int64) map[string]any {
	f := map[string]any{
		"addr":                addr,
		"state":               l.State,
		"queue_depth":         l.QueueDepth,
		"running":             l.Running,
		"kv_use_pct":          l.KVUsePct,
		"adapter_slots_used":  l.AdapterSlotsUsed,
		"adapter_slots_total": l.AdapterSlotsTotal,
		"updated_ms":          nowMS,
	}
	if l.GPUMemTotalBytes > 0 {
		f["gpu_mem_used_bytes"] = l.GPUMemUsedBytes
		f["gpu_mem_total_bytes"] = l.GPUMemTotalBytes
	}
	return f
}
