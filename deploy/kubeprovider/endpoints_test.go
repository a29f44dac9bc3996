package kubeprovider

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/internal/testserver"
	"github.com/graft-ai/graft/xds"
)

// TestXDSEndpointsArePodsReady runs graft xds's loop on a real Redis (the
// sidecars' heartbeats, written as a sidecar writes them: its listen address
// inside the pod) joined with the pods of a real API server: the snapshot
// lists exactly the replicas whose pod is Ready, at the pod IPs, and drops a
// pod whose probe fails or that is deleted while it drains.
func TestXDSEndpointsArePodsReady(t *testing.T) {
	needCluster(t)
	ns := namespace(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := newProvider(t, ns, time.Hour)
	defer p.Close()
	srv := testserver.RedisAOF(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	defer rdb.Close()
	st := state.New(rdb)
	if _, err := (deploy.Records{Store: st}).Create(ctx, "chat", spec); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"r1", "r2", "r3"} {
		start(t, p, id, 1)
		hb := state.Replica{Deployment: "chat", ID: id, Addr: "0.0.0.0:8000", State: state.StateReady, Updated: time.Now()}
		if _, err := st.PutReplica(ctx, hb, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	playReplicaSets(t, ns)

	eps, err := WatchEndpoints(ctx, cluster, ns)
	if err != nil {
		t.Fatal(err)
	}
	defer eps.Close()
	xs, err := xds.NewServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go xds.Run(ctx, xds.Config{Store: st, Server: xs, Pods: eps, Resync: time.Hour,
		Listener: xds.Listener{Addr: "127.0.0.1:8443", CertFile: "tls.crt", KeyFile: "tls.key"}})
	want := func(addrs ...string) {
		t.Helper()
		eventually(t, "the snapshot's endpoints are "+strings.Join(addrs, " "), func() bool {
			return slices.Equal(snapshotEndpoints(xs, "chat"), addrs)
		})
	}
	want() // three heartbeats say ready, no pod is: nothing to route to

	playKubelet(t, ns, replicaPod(t, ns, "r1").Name, ready("10.1.0.1"))
	playKubelet(t, ns, replicaPod(t, ns, "r2").Name, ready("10.1.0.2"))
	want("10.1.0.1:8000", "10.1.0.2:8000")

	// r2's readiness probe fails: out, though its heartbeat still says ready.
	playKubelet(t, ns, replicaPod(t, ns, "r2").Name, func(s *corev1.PodStatus) {
		for i := range s.Conditions {
			if s.Conditions[i].Type == corev1.PodReady {
				s.Conditions[i].Status = corev1.ConditionFalse
			}
		}
	})
	want("10.1.0.1:8000")

	// r3 Ready; r1's pod deleted on its node: it drains, routed no more.
	playKubelet(t, ns, replicaPod(t, ns, "r3").Name, ready("10.1.0.3"))
	r1 := replicaPod(t, ns, "r1")
	bind(t, ns, r1.Name)
	if err := cluster.CoreV1().Pods(ns).Delete(ctx, r1.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want("10.1.0.3:8000")
}

// snapshotEndpoints lists the addresses of deployment's cluster in the
// snapshot xs serves now.
func snapshotEndpoints(xs *xds.Server, deployment string) []string {
	snap := xs.Snapshot()
	if snap == nil {
		return []string{"no snapshot"}
	}
	cla, ok := snap.GetResources(resource.EndpointType)[xds.ClusterName(deployment)].(*endpointv3.ClusterLoadAssignment)
	if !ok {
		return []string{"no cluster"}
	}
	var out []string
	for _, l := range cla.GetEndpoints() {
		for _, e := range l.GetLbEndpoints() {
			a := e.GetEndpoint().GetAddress().GetSocketAddress()
			out = append(out, net.JoinHostPort(a.GetAddress(), fmt.Sprint(a.GetPortValue())))
		}
	}
	slices.Sort(out)
	return out
}
