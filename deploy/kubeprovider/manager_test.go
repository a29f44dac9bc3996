package kubeprovider

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/internal/testserver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// manager runs graft's deployment controllers on this provider, with a real
// Redis holding the records.
func manager(t *testing.T, ns string) (*deploy.Manager, *Provider) {
	t.Helper()
	srv := testserver.RedisAOF(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	p := newProvider(t, ns, time.Second)
	m, err := deploy.NewManager(deploy.ManagerConfig{Store: state.New(rdb), Provider: p, Tick: 200 * time.Millisecond,
		Resync: time.Second, BackoffMax: 2 * time.Second, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; p.Close() })
	return m, p
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
	s, err := deploy.DecodeSpec([]byte(`{"base_model": "hf://graft-ai/stories260K", "min_replicas": 1, "threads": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(context.Background(), "chat", s); err != nil {
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

func TestManagerErroredWithTheKubernetesReason(t *testing.T) {
	needCluster(t)
	ns := namespace(t)
	m, p := manager(t, ns)
	createChat(t, m)
	var id string
	eventually(t, "the controller starts a replica", func() bool {
		rs := p.List("chat")
		if len(rs) == 1 {
			id = rs[0].ID
		}
		return len(rs) == 1
	})
	playReplicaSets(t, ns)
	playKubelet(t, ns, replicaPod(t, ns, id).Name, crashLooping)
	rec := waitStatus(t, m, "chat", deploy.Errored)
	if !strings.Contains(rec.StatusReason, "CrashLoopBackOff: back-off") {
		t.Errorf("status reason %q, want the pod's CrashLoopBackOff", rec.StatusReason)
	}
}
