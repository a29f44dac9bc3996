package kubeprovider

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/state"
)

var ipSeq atomic.Int64

// liveStarting plays the ReplicaSet controller, then the kubelet and the
// sidecar for every replica of dep still starting: its pod Ready at a fresh
// IP, its heartbeat in Redis with running requests in flight.
func liveStarting(t *testing.T, ns string, p *Provider, st *state.Store, dep string, running int) []string {
	t.Helper()
	playReplicaSets(t, ns)
	var ids []string
	for _, r := range p.List(dep) {
		if r.Phase != deploy.PhaseStarting {
			continue
		}
		n := ipSeq.Add(1)
		playKubelet(t, ns, replicaPod(t, ns, r.ID).Name, ready(fmt.Sprintf("10.3.%d.%d", n/250, n%250+1)))
		heartbeat(t, st, dep, r.ID, running)
		ids = append(ids, r.ID)
	}
	return ids
}

// heartbeat writes what a replica's sidecar publishes, its load included.
func heartbeat(t *testing.T, st *state.Store, dep, id string, running int) {
	t.Helper()
	hb := state.Replica{Deployment: dep, ID: id, Addr: "0.0.0.0:8000", State: state.StateReady, Running: running, Updated: time.Now()}
	if _, err := st.PutReplica(context.Background(), hb, time.Hour); err != nil {
		t.Fatal(err)
	}
}

func countLive(p *Provider, dep string) int {
	n := 0
	for _, r := range p.List(dep) {
		if r.Phase == deploy.PhaseLive {
			n++
		}
	}
	return n
}

// scales records every replica count a Deployment is given, as a watch of
// the API server sees the writes, until it is deleted.
func scales(t *testing.T, ns, name string) <-chan []int32 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	opts := metav1.ListOptions{FieldSelector: "metadata.name=" + name}
	w, err := cluster.AppsV1().Deployments(ns).Watch(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan []int32, 1)
	go func() {
		var seen []int32
		// A watch the API server ends early (seen once under load, with no
		// event) is resumed from the last version seen, so no change is missed.
		for {
			deleted := false
			for ev := range w.ResultChan() {
				d, ok := ev.Object.(*appsv1.Deployment)
				if !ok {
					continue
				}
				opts.ResourceVersion = d.ResourceVersion
				if n := *d.Spec.Replicas; len(seen) == 0 || seen[len(seen)-1] != n {
					seen = append(seen, n)
				}
				if ev.Type == watch.Deleted {
					deleted = true
					break
				}
			}
			w.Stop()
			if deleted || ctx.Err() != nil {
				break
			}
			for w, err = cluster.AppsV1().Deployments(ns).Watch(ctx, opts); err != nil && ctx.Err() == nil; {
				time.Sleep(50 * time.Millisecond)
				w, err = cluster.AppsV1().Deployments(ns).Watch(ctx, opts)
			}
			if ctx.Err() != nil {
				break
			}
		}
		out <- seen
	}()
	return out
}

// TestManagerScalesThroughTheAutoscaler: a deployment created with
// min_replicas 0 waits in Standby with nothing in the cluster; a request
// (Wake, as the gateway calls it while it holds the request) makes a pod;
// the load its heartbeat reports scales the Kubernetes Deployment up to
// max_replicas 3 through the scale subresource, and idle replicas go one per
// cooldown down to zero: Standby again, nothing left in the cluster.
func TestManagerScalesThroughTheAutoscaler(t *testing.T) {
	needCluster(t)
	ns := namespace(t)
	ctx := context.Background()
	st := redisStore(t)
	m, p, _ := managerOn(t, ns, st)
	create(t, m, "chat", `{"min_replicas": 0, "max_replicas": 3, "scale_up_threshold": 1, "cooldown": "2s"}`)
	waitStatus(t, m, "chat", deploy.Standby)
	if deps, _ := cluster.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{}); len(deps.Items) != 0 {
		t.Fatalf("%d Deployments in Standby, want none", len(deps.Items))
	}

	woke := make(chan error, 1)
	go func() { woke <- m.Wake(ctx, "chat") }()
	eventually(t, "the wake starts a replica", func() bool { return len(p.List("chat")) == 1 })
	gen := p.List("chat")[0].Generation
	name := objectName("chat", gen)
	seen := scales(t, ns, name)
	liveStarting(t, ns, p, st, "chat", 3) // three requests on it: scale up
	if err := <-woke; err != nil {
		t.Fatalf("wake: %v", err)
	}
	eventually(t, "the autoscaler asks for 3 replicas", func() bool { return len(p.List("chat")) == 3 })
	// The provider writes the replica ids, then the scale: the listing can
	// lead the scale subresource by a moment, and pods follow the scale.
	eventually(t, "the scale subresource says 3", func() bool { return scaleOf(t, ns, name) == 3 })
	eventually(t, "3 replicas are live", func() bool {
		liveStarting(t, ns, p, st, "chat", 1)
		return countLive(p, "chat") == 3
	})
	waitStatus(t, m, "chat", deploy.Ready)

	for _, r := range p.List("chat") {
		heartbeat(t, st, "chat", r.ID, 0) // idle
	}
	waitStatus(t, m, "chat", deploy.Standby)
	var got []int32
	select {
	case got = <-seen:
	case <-time.After(20 * time.Second):
		t.Fatal("the Deployment was not deleted after the scale to zero")
	}
	// One at a time up (each Start) and down (each Stop, one per cooldown).
	if want := []int32{1, 2, 3, 2, 1, 0}; !slices.Equal(got, want) {
		t.Errorf("scales %v, want %v", got, want)
	}
	if pods := livePods(t, ns, map[string]string{LabelManagedBy: "graft"}); len(pods) != 0 {
		t.Errorf("%d pods left in Standby", len(pods))
	}
}

// TestManagerRollingUpdateAcrossARestart: a config change makes the Ready
// deployment Updating: a new generation's Deployment surges one pod while
// the old one keeps serving (maxUnavailable 0). The control process restarts
// in the middle: the new one finds both generations by listing, makes no
// second object or pod, and finishes the rollout (old pod drained, old
// Deployment gone, Ready).
func TestManagerRollingUpdateAcrossARestart(t *testing.T) {
	needCluster(t)
	ns := namespace(t)
	ctx := context.Background()
	st := redisStore(t)
	m, p, stop := managerOn(t, ns, st)
	createChat(t, m)
	eventually(t, "a replica starts", func() bool { return len(p.List("chat")) == 1 })
	old := liveStarting(t, ns, p, st, "chat", 0)
	waitStatus(t, m, "chat", deploy.Ready)

	rec, err := m.Update(ctx, "chat", []byte(`{"threads": 2}`))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != deploy.Updating {
		t.Fatalf("status %s after a config change, want Updating", rec.Status)
	}
	newName := objectName("chat", rec.ReplicaGeneration)
	eventually(t, "the new generation surges one replica", func() bool { return len(p.List("chat")) == 2 })
	playReplicaSets(t, ns)
	stop() // mid-rollout: the new replica's pod is not Ready yet

	m2, p2, _ := managerOn(t, ns, st)
	waitStatus(t, m2, "chat", deploy.Updating)
	time.Sleep(time.Second) // five rounds of the new controllers
	playReplicaSets(t, ns)
	deps, err := cluster.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(deps.Items) != 2 || scaleOf(t, ns, objectName("chat", 1)) != 1 || scaleOf(t, ns, newName) != 1 {
		t.Fatalf("after the restart: %d Deployments, want the old and the new at scale 1", len(deps.Items))
	}
	if pods := livePods(t, ns, map[string]string{LabelManagedBy: "graft"}); len(pods) != 2 {
		t.Fatalf("after the restart: %d pods, want the old one serving and the new one", len(pods))
	}
	if rs := p2.List("chat"); len(rs) != 2 || rs[0].Phase != deploy.PhaseLive && rs[1].Phase != deploy.PhaseLive {
		t.Fatalf("after the restart: %+v, want the old replica still live", rs)
	}
	d, err := cluster.AppsV1().Deployments(ns).Get(ctx, newName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cpu := d.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; cpu.Value() != 2 {
		t.Errorf("new generation cpu %s, want the new spec's 2 threads", cpu.String())
	}

	liveStarting(t, ns, p2, st, "chat", 0)
	waitStatus(t, m2, "chat", deploy.Ready)
	eventually(t, "the old generation is gone", func() bool {
		deps, err := cluster.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(deps.Items) == 1 && deps.Items[0].Name == newName &&
			len(livePods(t, ns, map[string]string{LabelReplica: old[0]})) == 0
	})
	if rs := p2.List("chat"); len(rs) != 1 || rs[0].Phase != deploy.PhaseLive || rs[0].Generation != rec.ReplicaGeneration {
		t.Errorf("after the rollout: %+v, want one live replica of generation %d", rs, rec.ReplicaGeneration)
	}
}
