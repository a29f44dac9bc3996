package deploy

import "github.com/prometheus/client_golang/prometheus"

// metrics count the controllers' decisions, so a dashboard can show why a
// deployment scaled, not only that it did.
type metrics struct {
	scale    *prometheus.CounterVec // deployment, direction
	status   *prometheus.CounterVec // deployment, status
	restarts *prometheus.CounterVec // deployment
	replicas *prometheus.GaugeVec   // deployment, kind (desired, live)
	load     *prometheus.GaugeVec   // deployment
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		scale: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "graft_deployment_scale_decisions_total",
			Help: "Autoscaler decisions, by direction (up, down)."}, []string{"deployment", "direction"}),
		status: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "graft_deployment_status_changes_total",
			Help: "Status changes made by the controller, by the status entered."}, []string{"deployment", "status"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "graft_deployment_replica_replacements_total",
			Help: "Replicas replaced after they exited or failed."}, []string{"deployment"}),
		replicas: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "graft_deployment_replicas",
			Help: "Replicas wanted (desired), running or starting (live), and serving (ready)."}, []string{"deployment", "kind"}),
		load: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "graft_deployment_load_per_replica",
			Help: "Running plus queued requests per live replica, from their heartbeats: the autoscaler's input."}, []string{"deployment"}),
	}
	if reg != nil {
		reg.MustRegister(m.scale, m.status, m.restarts, m.replicas, m.load)
	}
	return m
}

func (m *metrics) forget(name string) {
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.scale, m.status, m.restarts, m.replicas, m.load} {
		v.DeletePartialMatch(prometheus.Labels{"deployment": name})
	}
}
