package kubeprovider

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/graft-ai/graft/deploy"
)

// TestDeletedDeploymentReleasesItsPods: every Deployment the provider makes
// is owned by the control plane's object and held by the provider's
// finalizer. An operator deleting one (no garbage collector runs here, as
// none would with --cascade=orphan) leaves nothing behind: the provider
// deletes its pods, lists their replicas as stopping while they drain on
// their node, refuses new replicas to it, and lets it go once the kubelet
// has let the pods go. The other generation keeps running.
func TestDeletedDeploymentReleasesItsPods(t *testing.T) {
	needCluster(t)
	ns := namespace(t)
	ctx := context.Background()
	owner := controlPlane(t, ns)
	p, err := New(ctx, Config{Client: cluster, Namespace: ns, Image: "graft:test", Redis: "redis://redis:6379",
		FailAfter: time.Hour, Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start(t, p, "a", 1)
	start(t, p, "b", 1)
	start(t, p, "c", 2)
	playReplicaSets(t, ns)
	for i, id := range []string{"a", "b", "c"} {
		pod := replicaPod(t, ns, id)
		bind(t, ns, pod.Name)
		playKubelet(t, ns, pod.Name, ready("10.0.5."+string(rune('1'+i))))
	}
	waitPhases(t, p, "a:live@10.0.5.1:8000", "b:live@10.0.5.2:8000", "c:live@10.0.5.3:8000")

	deps, err := cluster.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=graft"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps.Items {
		if len(d.OwnerReferences) != 1 || d.OwnerReferences[0].UID != owner.UID {
			t.Errorf("%s owned by %+v, want the control plane %s", d.Name, d.OwnerReferences, owner.UID)
		}
		if !slices.Contains(d.Finalizers, finalizer) {
			t.Errorf("%s finalizers %v, want %s", d.Name, d.Finalizers, finalizer)
		}
	}

	if err := cluster.AppsV1().Deployments(ns).Delete(ctx, "chat-g1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPhases(t, p, "a:stopping", "b:stopping", "c:live@10.0.5.3:8000")
	g1 := map[string]string{LabelDeployment: "chat", LabelGeneration: "1"}
	eventually(t, "the provider deletes g1's pods", func() bool { return len(livePods(t, ns, g1)) == 0 })
	err = p.Start(ctx, deploy.ReplicaSpec{Deployment: "chat", ID: "d", Generation: 1, Spec: spec})
	if !errors.Is(err, errDeleting) {
		t.Errorf("a replica for a Deployment being deleted: %v, want %v", err, errDeleting)
	}
	if _, err := cluster.AppsV1().Deployments(ns).Get(ctx, "chat-g1", metav1.GetOptions{}); err != nil {
		t.Fatalf("g1 gone while its pods drain: %v", err)
	}

	// The kubelet's part: the streams are done, the pods go.
	letGo(t, ns, g1)
	eventually(t, "g1 is gone", func() bool {
		_, err := cluster.AppsV1().Deployments(ns).Get(ctx, "chat-g1", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	waitPhases(t, p, "c:live@10.0.5.3:8000")
	start(t, p, "d", 1) // a fresh g1
	waitPhases(t, p, "c:live@10.0.5.3:8000", "d:starting")
}

// controlPlane makes the object that owns what the provider makes (the
// control plane's own Deployment, in a cluster).
func controlPlane(t *testing.T, ns string) *metav1.OwnerReference {
	t.Helper()
	sel := map[string]string{"app.kubernetes.io/name": "graft-control"}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "graft-control", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "control", Image: "graft:test"}}}}}}
	d, err := cluster.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID}
}

// letGo plays the kubelet once a pod's streams are done: every pod of sel
// being deleted goes at once.
func letGo(t *testing.T, ns string, sel map[string]string) {
	t.Helper()
	ctx := context.Background()
	l, err := cluster.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(sel).String()})
	if err != nil {
		t.Fatal(err)
	}
	zero := int64(0)
	for _, pod := range l.Items {
		if pod.DeletionTimestamp == nil {
			continue
		}
		if err := cluster.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}
}
