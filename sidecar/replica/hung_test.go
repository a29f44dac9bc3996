package replica

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/graft-ai/graft/deploy/state"
)

// hungRedis accepts connections and never answers, as a Redis behind a
// network partition looks, until release closes everything.
type hungRedis struct {
	lis   net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startHungRedis(t *testing.T) *hungRedis {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hungRedis{lis: lis}
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
		}
	}()
	t.Cleanup(h.release)
	return h
}

// release stops listening and drops every connection, so calls fail at once.
func (h *hungRedis) release() {
	h.lis.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
	h.conns = nil
}

// TestHungRedisStallsNothing: with every Redis call hanging (and no timeout
// that would end it), polls go on, /metrics stays current and Refresh
// returns; Stop returns once Redis fails fast again.
func TestHungRedisStallsNothing(t *testing.T) {
	h := startHungRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: h.lis.Addr().String(), ReadTimeout: -1, WriteTimeout: -1,
		MaxRetries: -1, ContextTimeoutEnabled: true})
	defer rdb.Close()
	e := startEngine(t)
	reg := prometheus.NewRegistry()
	r := startReporter(t, Config{Engine: e.client, Store: state.New(rdb), Deployment: "d", ReplicaID: "r1",
		Addr: "a:1", Interval: 20 * time.Millisecond, TTL: 2 * time.Hour, Timeout: time.Hour, Registerer: reg})
	// Each poll stamps lora_requests_info with its time: three different
	// stamps are three polls made while the first write still hangs.
	seen := map[string]bool{}
	eventually(t, "three polls while Redis hangs", func() bool {
		r.Refresh()
		for _, l := range scrape(t, reg) {
			if strings.HasPrefix(l, "vllm:lora_requests_info") {
				seen[l] = true
			}
		}
		return len(seen) >= 3
	})
	h.mu.Lock()
	hanging := len(h.conns)
	h.mu.Unlock()
	if hanging == 0 {
		t.Fatal("the reporter never reached the hung Redis")
	}
	h.release()
	done := make(chan struct{})
	go func() { r.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(testDeadline):
		t.Fatal("Stop hung after Redis started failing fast")
	}
}
