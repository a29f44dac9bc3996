package state

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"time"
)

// Replica states a replica reports.
const (
	StateReady       = "ready"       // the engine answers; requests may be routed here
	StateUnavailable = "unavailable" // the pod is up but its engine does not answer
	StateDraining    = "draining"    // shutting down: finish running requests, route no new ones
)

// Replica is one replica's entry: its hash plus its residency set.
type Replica struct {
	Deployment, ID                      string
	Addr                                string  // where the pod's OpenAI API listens
	State                               string  // one of the State* constants
	QueueDepth                          int     // requests waiting in the engine
	Running                             int     // sequences in the running batch
	MaxQueued                           int     // waiting requests the engine accepts before refusing; 0 when unknown
	KVUse                               float64 // fraction of KV cache blocks in use, 0..1
	AdapterSlotsUsed, AdapterSlotsTotal int
	GPUMemUsedBytes, GPUMemTotalBytes   int64 // 0 when unknown (CPU engine)
	Updated                             time.Time
	Adapters                            []string // loaded adapter ids, sorted
}

// Hash field names of a replica's hash.
const (
	fieldAddr         = "addr"
	fieldState        = "state"
	fieldQueueDepth   = "queue_depth"
	fieldRunning      = "running"
	fieldMaxQueued    = "max_queued"
	fieldKVUse        = "kv_use"
	fieldSlotsUsed    = "adapter_slots_used"
	fieldSlotsTotal   = "adapter_slots_total"
	fieldGPUMemUsed   = "gpu_mem_used_bytes"
	fieldGPUMemTotal  = "gpu_mem_total_bytes"
	fieldUpdatedMilli = "updated_ms"
)

func (r Replica) fields() map[string]any {
	f := map[string]any{
		fieldAddr:         r.Addr,
		fieldState:        r.State,
		fieldQueueDepth:   r.QueueDepth,
		fieldRunning:      r.Running,
		fieldMaxQueued:    r.MaxQueued,
		fieldKVUse:        strconv.FormatFloat(r.KVUse, 'g', -1, 64),
		fieldSlotsUsed:    r.AdapterSlotsUsed,
		fieldSlotsTotal:   r.AdapterSlotsTotal,
		fieldUpdatedMilli: r.Updated.UnixMilli(),
	}
	if r.GPUMemTotalBytes > 0 {
		f[fieldGPUMemUsed] = r.GPUMemUsedBytes
		f[fieldGPUMemTotal] = r.GPUMemTotalBytes
	}
	return f
}

// decodeReplica reads a replica's hash. Missing numeric fields read as 0, so an
// older writer's hash still decodes; a field that is present but not a number
// is an error, since guessing would route traffic on garbage.
func decodeReplica(deployment, id string, h map[string]string, adapters []string) (Replica, error) {
	r := Replica{Deployment: deployment, ID: id, Addr: h[fieldAddr], State: h[fieldState]}
	ints := []struct {
		name string
		dst  *int
	}{{fieldQueueDepth, &r.QueueDepth}, {fieldRunning, &r.Running}, {fieldMaxQueued, &r.MaxQueued},
		{fieldSlotsUsed, &r.AdapterSlotsUsed}, {fieldSlotsTotal, &r.AdapterSlotsTotal}}
	for _, f := range ints {
		if err := parseField(h, f.name, func(s string) (err error) { *f.dst, err = strconv.Atoi(s); return }); err != nil {
			return Replica{}, fmt.Errorf("%s: %w", ReplicaKey(deployment, id), err)
		}
	}
	var updated int64
	int64s := []struct {
		name string
		dst  *int64
	}{{fieldGPUMemUsed, &r.GPUMemUsedBytes}, {fieldGPUMemTotal, &r.GPUMemTotalBytes}, {fieldUpdatedMilli, &updated}}
	for _, f := range int64s {
		if err := parseField(h, f.name, func(s string) (err error) { *f.dst, err = strconv.ParseInt(s, 10, 64); return }); err != nil {
			return Replica{}, fmt.Errorf("%s: %w", ReplicaKey(deployment, id), err)
		}
	}
	if err := parseField(h, fieldKVUse, func(s string) (err error) { r.KVUse, err = strconv.ParseFloat(s, 64); return }); err != nil {
		return Replica{}, fmt.Errorf("%s: %w", ReplicaKey(deployment, id), err)
	}
	if updated != 0 {
		r.Updated = time.UnixMilli(updated)
	}
	r.Adapters = slices.Sorted(slices.Values(adapters))
	if len(r.Adapters) == 0 {
		r.Adapters = nil
	}
	return r, nil
}

func parseField(h map[string]string, name string, parse func(string) error) error {
	s, ok := h[name]
	if !ok {
		return nil
	}
	if err := parse(s); err != nil {
		return fmt.Errorf("field %s = %q is not a number", name, s)
	}
	return nil
}

// sameReplica compares everything but Updated, which every heartbeat moves:
// a watcher tells its readers about changes, not about heartbeats.
func sameReplica(a, b Replica) bool {
	a.Updated, b.Updated = time.Time{}, time.Time{}
	if len(a.Adapters) == 0 && len(b.Adapters) == 0 {
		a.Adapters, b.Adapters = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

func (r Replica) clone() Replica {
	r.Adapters = slices.Clone(r.Adapters)
	return r
}
