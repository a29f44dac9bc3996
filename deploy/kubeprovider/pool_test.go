package kubeprovider

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// TestInferencePool: with the Gateway API Inference Extension's own CRD
// installed, each deployment is one InferencePool (accepted by the CRD's
// schema) whose selector takes the pods of every generation and whose target
// port is theirs; a restarted provider makes no second one; the pool goes
// when the deployment's last Deployment does.
func TestInferencePool(t *testing.T) {
	needCluster(t)
	if _, err := envtest.InstallCRDs(restConfig, envtest.CRDInstallOptions{Paths: []string{"../kubernetes/crds"}}); err != nil {
		t.Fatal(err)
	}
	ns := namespace(t)
	ctx := context.Background()
	dyn := dynamic.NewForConfigOrDie(restConfig)
	pools := dyn.Resource(poolResource).Namespace(ns)
	newPooled := func() *Provider {
		p, err := New(ctx, Config{Client: cluster, Namespace: ns, Image: "graft:test", Redis: "redis://redis:6379", FailAfter: time.Hour,
			InferencePool: &InferencePool{Client: dyn, Picker: "gie-epp", PickerPort: 9002}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := newPooled()
	start(t, p, "a", 1)
	start(t, p, "b", 2)
	pool, err := pools.Get(ctx, "chat", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("no InferencePool for chat: %v", err)
	}
	sel, _, _ := unstructured.NestedStringMap(pool.Object, "spec", "selector", "matchLabels")
	playReplicaSets(t, ns)
	for _, id := range []string{"a", "b"} {
		if pod := replicaPod(t, ns, id); !labels.SelectorFromSet(sel).Matches(labels.Set(pod.Labels)) {
			t.Errorf("the pool's selector %v misses %s's pod %v", sel, id, pod.Labels)
		}
	}
	ports, _, _ := unstructured.NestedSlice(pool.Object, "spec", "targetPorts")
	if len(ports) != 1 || ports[0].(map[string]any)["number"] != int64(8000) {
		t.Errorf("target ports %v, want the pods' 8000", ports)
	}
	p.Close()

	p = newPooled()
	defer p.Close()
	start(t, p, "c", 2)
	if l, err := pools.List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 1 {
		t.Fatalf("pools after a restart: %v, %v; want the one", l, err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if err := p.Stop(ctx, "chat", id); err != nil {
			t.Fatal(err)
		}
	}
	playReplicaSets(t, ns)
	eventually(t, "the pool goes with the last Deployment", func() bool {
		_, err := pools.Get(ctx, "chat", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}
