package replica

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// gpuMemory stands in for the NVML monitor (tested in sidecar/gpu against
// go-nvml's mock): no GPU answers here, the heartbeat path is what is tested.
type gpuMemory struct{ used atomic.Int64 }

func (g *gpuMemory) Memory() (used, total int64) { return g.used.Load(), 80 << 30 }

// TestHeartbeatCarriesGPUMemory: each heartbeat written to a real Redis holds
// the GPUs' memory as read at that poll.
func TestHeartbeatCarriesGPUMemory(t *testing.T) {
	store := newStore(t, redisServer(t).Addr)
	g := &gpuMemory{}
	g.used.Store(3 << 30)
	r := startReporter(t, Config{Engine: startEngine(t).client, Store: store, Deployment: "d", ReplicaID: "r1",
		Addr: "10.0.0.1:8000", Interval: 50 * time.Millisecond, GPU: g})
	for _, want := range []int64{3 << 30, 5 << 30} {
		g.used.Store(want)
		r.Refresh()
		deadline := time.Now().Add(testDeadline)
		for {
			got, ok, err := store.GetReplica(context.Background(), "d", "r1")
			if err == nil && ok && got.GPUMemUsedBytes == want && got.GPUMemTotalBytes == 80<<30 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("heartbeat GPU memory %d/%d, want %d/%d (ok=%v err=%v)",
					got.GPUMemUsedBytes, got.GPUMemTotalBytes, want, int64(80<<30), ok, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
