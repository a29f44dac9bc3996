package kubeprovider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// The tests run a real kube-apiserver and etcd (no kubelet, no controller
// manager). They play the ReplicaSet controller (pods from the Deployment's
// template, as many as its scale says) and the kubelet (pod status).

var (
	cluster    kubernetes.Interface
	restConfig *rest.Config
	nsSeq      atomic.Int64
)

func TestMain(m *testing.M) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); dir == "" || err != nil {
		fmt.Println("kubeprovider: skipping the cluster tests: no kube-apiserver in $KUBEBUILDER_ASSETS (run `make kube-assets`)")
		os.Exit(m.Run())
	}
	env := &envtest.Environment{BinaryAssetsDirectory: dir}
	// With no endpoint reconciler the server does not try to advertise
	// 127.0.0.1 as the kubernetes service's endpoint, which it refuses.
	env.ControlPlane.GetAPIServer().Configure().Set("endpoint-reconciler-type", "none")
	cfg, err := env.Start()
	if err != nil {
		fmt.Println("kubeprovider: starting kube-apiserver and etcd:", err)
		os.Exit(1)
	}
	cluster, restConfig = kubernetes.NewForConfigOrDie(cfg), cfg
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Println("kubeprovider: stopping the control plane:", err)
	}
	os.Exit(code)
}

func needCluster(t *testing.T) {
	t.Helper()
	if cluster == nil {
		t.Skip("no kube-apiserver in $KUBEBUILDER_ASSETS (run `make kube-assets`)")
	}
}

// namespace makes a fresh namespace for one test.
func namespace(t *testing.T) string {
	t.Helper()
	ns := fmt.Sprintf("graft-test-%d", nsSeq.Add(1))
	_, err := cluster.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// testHubEnv stands for the control process's Hub settings.
var testHubEnv = []corev1.EnvVar{{Name: "HF_ENDPOINT", Value: "http://hub.test"}, {Name: "HF_TOKEN", Value: "hf_x"}}

func newProvider(t *testing.T, ns string, failAfter time.Duration) *Provider {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := New(ctx, Config{Client: cluster, Namespace: ns, Image: "graft:test", Redis: "redis://redis:6379",
		FailAfter: failAfter, HubEnv: testHubEnv})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// playReplicaSets does the ReplicaSet controller's part once: pods from each
// Deployment's template up to its scale, and the cheapest ones removed above it.
func playReplicaSets(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	deps, err := cluster.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps.Items {
		if d.DeletionTimestamp != nil {
			continue // the Deployment controller leaves a deleted one alone
		}
		pods := livePods(t, ns, d.Spec.Selector.MatchLabels)
		want := int(*d.Spec.Replicas)
		for i := len(pods); i < want; i++ {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: d.Name + "-", Labels: d.Spec.Template.Labels,
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(&d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}},
				Spec: d.Spec.Template.Spec}
			if _, err := cluster.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		slices.SortFunc(pods, func(a, b corev1.Pod) int { return deletionCost(a) - deletionCost(b) })
		for i := 0; i < len(pods)-want; i++ {
			// The provider may have deleted the pod since the list (a
			// deployment being deleted takes its pods with it): gone is
			// what the controller wanted, as the real one also takes it.
			if err := cluster.CoreV1().Pods(ns).Delete(ctx, pods[i].Name, metav1.DeleteOptions{}); ignoreNotFound(err) != nil {
				t.Fatal(err)
			}
		}
	}
}

func deletionCost(p corev1.Pod) int {
	n, _ := strconv.Atoi(p.Annotations[annDeletionCost])
	return n
}

func livePods(t *testing.T, ns string, sel map[string]string) []corev1.Pod {
	t.Helper()
	l, err := cluster.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: labels.SelectorFromSet(sel).String()})
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(l.Items, func(p corev1.Pod) bool { return p.DeletionTimestamp != nil })
}

// replicaPod is the pod the provider bound to a replica id.
func replicaPod(t *testing.T, ns, id string) corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	eventually(t, "a pod is bound to "+id, func() bool {
		pods := livePods(t, ns, map[string]string{LabelReplica: id})
		if len(pods) > 1 {
			t.Fatalf("%d pods bound to %s", len(pods), id)
		}
		if len(pods) == 1 {
			pod = pods[0]
		}
		return len(pods) == 1
	})
	return pod
}

// playKubelet writes a pod's status as a kubelet would, retrying when the
// provider wrote the pod (binding it to a replica id) since it was read.
func playKubelet(t *testing.T, ns, name string, f func(s *corev1.PodStatus)) {
	t.Helper()
	ctx := context.Background()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := cluster.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		f(&pod.Status)
		_, err = cluster.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func ready(ip string) func(s *corev1.PodStatus) {
	return func(s *corev1.PodStatus) {
		now := metav1.Now()
		s.Phase = corev1.PodRunning
		s.PodIP, s.PodIPs = ip, []corev1.PodIP{{IP: ip}}
		s.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
		s.ContainerStatuses = []corev1.ContainerStatus{{Name: containerName, Ready: true, Image: "graft:test",
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}
	}
}

// bind plays the scheduler: once a pod is on a node, deleting it waits for
// the kubelet (the test) to let it go, as a draining pod does.
func bind(t *testing.T, ns, name string) {
	t.Helper()
	err := cluster.CoreV1().Pods(ns).Bind(context.Background(), &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: name},
		Target: corev1.ObjectReference{Kind: "Node", Name: "node-1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}
