package xds

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// TestMetricsFollowARealEnvoy: a real Envoy connects, takes the first
// snapshot and then an update; the metrics show one connected Envoy, the
// served version, two pushes and an acknowledged push per snapshot.
func TestMetricsFollowARealEnvoy(t *testing.T) {
	b0 := backend(t, "a-0")
	f := startFront(t, Input{Deployments: []Deployment{{Name: "a", Replicas: []Replica{b0}}}})
	reg := prometheus.NewPedanticRegistry()
	if err := f.srv.Register(reg); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, reg, "one connected Envoy", func(mfs map[string]*dto.MetricFamily) bool {
		return value(mfs, "graft_xds_connected_envoys") == 1
	})
	f.update(t, Input{Deployments: []Deployment{{Name: "a", Replicas: []Replica{b0}}, {Name: "b", Replicas: []Replica{b0}}}},
		func() bool { c, _ := f.get(t, "b", "x"); return c == 200 })
	version := snapVersion(f.srv.current)
	want := `
# HELP graft_xds_pushes_total Snapshots pushed to the Envoys (changes only).
# TYPE graft_xds_pushes_total counter
graft_xds_pushes_total 2
# HELP graft_xds_rejected_total Configuration an Envoy rejected (NACKs).
# TYPE graft_xds_rejected_total counter
graft_xds_rejected_total 0
# HELP graft_xds_snapshot_info The snapshot version being served (value 1).
# TYPE graft_xds_snapshot_info gauge
graft_xds_snapshot_info{version="` + version + `"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"graft_xds_pushes_total", "graft_xds_rejected_total", "graft_xds_snapshot_info"); err != nil {
		t.Fatal(err)
	}
	// Envoy routed by the update, so it has acknowledged both snapshots.
	waitMetric(t, reg, "both pushes acknowledged", func(mfs map[string]*dto.MetricFamily) bool {
		h := mfs["graft_xds_push_latency_seconds"]
		return h != nil && h.GetMetric()[0].GetHistogram().GetSampleCount() == 2
	})
	f.envoy.Stop()
	waitMetric(t, reg, "no Envoy after it stopped", func(mfs map[string]*dto.MetricFamily) bool {
		return value(mfs, "graft_xds_connected_envoys") == 0
	})
}

func value(mfs map[string]*dto.MetricFamily, name string) float64 {
	mf := mfs[name]
	if mf == nil || len(mf.GetMetric()) == 0 {
		return -1
	}
	return mf.GetMetric()[0].GetGauge().GetValue()
}

func waitMetric(t *testing.T, g prometheus.Gatherer, what string, ok func(map[string]*dto.MetricFamily) bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		mfs := map[string]*dto.MetricFamily{}
		for _, mf := range got {
			mfs[mf.GetName()] = mf
		}
		if ok(mfs) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s; metrics: %v", what, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
