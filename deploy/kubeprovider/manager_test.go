package kubeprovider

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/internal/testserver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// manager runs graft's deployment controllers on this provider, with a real
// Redis holding the records.
func manager(t *testing.T, ns string) (*deploy.Manager, *Provider) {
	t.Helper()
	m, p, _ := managerOn(t, ns, redisStore(t))
	return m, p
}

func redisStore(t *testing.T) *state.Store {
	t.Helper()
	srv := testserver.RedisAOF(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	return state.New(rdb)
}

// managerOn runs a control process (controllers and provider) on st; stop
// ends it as a restart would, replicas left running.
func managerOn(t *testing.T, ns string, st *state.Store) (*deploy.Manager, *Provider, func()) {
	t.Helper()
	p := newProvider(t, ns, time.Second)
	m, err := deploy.NewManager(deploy.ManagerConfig{Store: st, Provider: p, Tick: 200 * time.Millisecond,
		Resync: time.Second, BackoffMax: 2 * time.Second, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done; p.Close() }) }
	t.Cleanup(stop)
	return m, p, stop
}

func waitStatus(t *testing.T, m *deploy.Manager, name string, want deploy.Status) deploy.Record {
	t.Helper()
	var rec deploy.Record
	eventually(t, name+" is "+string(want), func() bool {
		r, err := m.Get(context.Background(), name)
		rec = r
		return err == nil && r.Status == want
	})
	return rec
}

func createChat(t *testing.T, m *deploy.Manager) {
	t.Helper()
	create(t, m, "chat", `{"min_replicas": 1}`)
}

// create makes a deployment of the test model; extra are more spec fields.
func create(t *testing.T, m *deploy.Manager, name, extra string) {
	t.Helper()
	js := `{"base_model": "hf://graft-ai/stories260K", "threads": 1}`
	s, err := deploy.DecodeSpec([]byte(js))
	if err == nil {
		s, err = deploy.MergeSpec(s, []byte(extra))
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(context.Background(), name, s); err != nil {
		t.Fatal(err)
	}
}

func TestManagerReadyThenDeleted(t *testing.T) {
	needCluster(t)
	ns := namespace(t)
	m, p := manager(t, ns)
	createChat(t, m)
	waitStatus(t, m, "chat", deploy.Initializing)
	var id string
	eventually(t, "the controller starts a replica", func() bool {
		rs := p.List("chat")
		if len(rs) == 1 {
			id = rs[0].ID
		}
		return len(rs) == 1
	})
	playReplicaSets(t, ns)
	playKubelet(t, ns, replicaPod(t, ns, id).Name, ready("10.0.3.1"))
	waitStatus(t, m, "chat", deploy.Ready)
	if n := m.Live("chat"); n != 1 {
		t.Errorf("%d live replicas, want 1", n)
	}

	if _, err := m.Delete(context.Background(), "chat"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every Kubernetes object is gone", func() bool {
		playReplicaSets(t, ns)
		deps, err := cluster.AppsV1().Deployments(ns).List(context.Background(), metav1.ListOptions{})
		return err == nil && len(deps.Items) == 0 && len(livePods(t, ns, map[string]string{LabelManagedBy: "graft"})) == 0
	})
}

// TestManagerErroredWithTheKubernetesReason: a pod crash-looping, or one no
// node can take, past the deadline with nothing ready makes its deployment
// Errored with what Kubernetes says.
func TestManagerErroredWithTheKubernetesReason(t *testing.T) {
	needCluster(t)
	ns := namespace(t)
	m, p := manager(t, ns)
	createChat(t, m)
	create(t, m, "big", `{"min_replicas": 1, "device": "cuda"}`)
	pod := func(name string) string {
		var id string
		eventually(t, "the controller starts a replica of "+name, func() bool {
			rs := p.List(name)
			if len(rs) == 1 {
				id = rs[0].ID
			}
			return len(rs) == 1
		})
		playReplicaSets(t, ns)
		return replicaPod(t, ns, id).Name
	}
	playKubelet(t, ns, pod("chat"), crashLooping)
	playKubelet(t, ns, pod("big"), func(s *corev1.PodStatus) {
		s.Phase = corev1.PodPending
		s.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}}
	})
	rec := waitStatus(t, m, "chat", deploy.Errored)
	if !strings.Contains(rec.StatusReason, "CrashLoopBackOff: back-off") {
		t.Errorf("status reason %q, want the pod's CrashLoopBackOff", rec.StatusReason)
	}
	rec = waitStatus(t, m, "big", deploy.Errored)
	if !strings.Contains(rec.StatusReason, "Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.") {
		t.Errorf("status reason %q, want the scheduler's Unschedulable", rec.StatusReason)
	}
	eventually(t, "an Errored deployment keeps no pods", func() bool {
		return len(livePods(t, ns, map[string]string{LabelManagedBy: "graft"})) == 0
	})
}
