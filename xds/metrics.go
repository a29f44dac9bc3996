package xds

import (
	"sync"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics say what the control plane last pushed, to how many Envoys, and
// how long they took to take it: a route that will not appear shows here as
// an old version, a NACK or a push no Envoy acknowledged.
type metrics struct {
	version   *prometheus.GaugeVec // one series, the current version
	pushes    prometheus.Counter
	connected prometheus.GaugeFunc
	latency   prometheus.Histogram // push to each Envoy's listener ACK
	rejected  prometheus.Counter

	mu       sync.Mutex
	pushedAt map[string]time.Time // version → when it was pushed; the current one only
	streams  map[int64]*stream
}

type stream struct {
	node  string
	acked string // the last version acknowledged on this stream
}

func newMetrics() *metrics {
	m := &metrics{pushedAt: map[string]time.Time{}, streams: map[int64]*stream{},
		version: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "graft_xds_snapshot_info",
			Help: "The snapshot version being served (value 1)."}, []string{"version"}),
		pushes: prometheus.NewCounter(prometheus.CounterOpts{Name: "graft_xds_pushes_total",
			Help: "Snapshots pushed to the Envoys (changes only)."}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "graft_xds_push_latency_seconds",
			Help: "From a push to an Envoy acknowledging its listeners.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "graft_xds_rejected_total",
			Help: "Configuration an Envoy rejected (NACKs)."}),
	}
	m.connected = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "graft_xds_connected_envoys",
		Help: "Envoys (distinct node ids) with an open xDS stream."}, m.countNodes)
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.version, m.pushes, m.connected, m.latency, m.rejected}
}

func (m *metrics) pushed(version string) {
	m.mu.Lock()
	m.pushedAt = map[string]time.Time{version: time.Now()}
	m.mu.Unlock()
	m.version.Reset()
	m.version.WithLabelValues(version).Set(1)
	m.pushes.Inc()
}

func (m *metrics) opened(id int64) {
	m.mu.Lock()
	m.streams[id] = &stream{}
	m.mu.Unlock()
}

func (m *metrics) closed(id int64) {
	m.mu.Lock()
	delete(m.streams, id)
	m.mu.Unlock()
}

// request notes a stream's node and, for listeners, an ACK or a NACK.
func (m *metrics) request(id int64, r *discovery.DiscoveryRequest) {
	if r.GetErrorDetail() != nil {
		m.rejected.Inc()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.streams[id]
	if s == nil {
		return
	}
	if n := r.GetNode().GetId(); n != "" {
		s.node = n // Envoy sends its node only on a stream's first request
	}
	v := r.GetVersionInfo()
	if r.GetTypeUrl() != resource.ListenerType || r.GetResponseNonce() == "" || r.GetErrorDetail() != nil || v == s.acked {
		return
	}
	s.acked = v
	if at, ok := m.pushedAt[v]; ok {
		m.latency.Observe(time.Since(at).Seconds())
	}
}

func (m *metrics) countNodes() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	nodes := map[string]bool{}
	for _, s := range m.streams {
		if s.node != "" {
			nodes[s.node] = true
		}
	}
	return float64(len(nodes))
}
