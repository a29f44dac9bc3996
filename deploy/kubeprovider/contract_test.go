package kubeprovider

import (
	"testing"
	"time"

	"github.com/graft-ai/graft/deploy/providertest"
)

// TestProviderContract runs the suite every provider passes; the test plays
// the ReplicaSet controller and the kubelet: a Ready pod for the live case,
// a crash-looping one for the failure.
func TestProviderContract(t *testing.T) {
	needCluster(t)
	ns := namespace(t)
	p := newProvider(t, ns, time.Second)
	t.Cleanup(p.Close)
	providertest.Run(t, providertest.Harness{Provider: p, Spec: spec, FailSpec: spec,
		Live: func(t *testing.T, _, id string) {
			playReplicaSets(t, ns)
			playKubelet(t, ns, replicaPod(t, ns, id).Name, ready("10.0.9.1"))
		},
		Fail: func(t *testing.T, _, id string) string {
			playReplicaSets(t, ns)
			playKubelet(t, ns, replicaPod(t, ns, id).Name, crashLooping)
			return "CrashLoopBackOff: back-off"
		},
		Deadline: 20 * time.Second})
}
