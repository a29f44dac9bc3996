package kubeprovider

import (
	"os"
	"path/filepath"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/finetune/jobs"
)

// TestNetworkPoliciesAdmitOnlyTheFront evaluates the manifests'
// NetworkPolicies on the pods the manifests and this provider make: the
// control API and the replicas trust the tenant the gateway names, so only
// Envoy and the control plane reach them; only graft's own pods reach Redis.
func TestNetworkPoliciesAdmitOnlyTheFront(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "kubernetes", "networkpolicy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pols []networkingv1.NetworkPolicy
	for _, u := range decodeAll(t, "networkpolicy.yaml", data) {
		var p networkingv1.NetworkPolicy
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &p); err != nil {
			t.Fatal(err)
		}
		pols = append(pols, p)
	}
	p := &Provider{cfg: Config{Namespace: "graft", Image: "graft", Port: 8000, Memory: resource.MustParse("1Gi")}}
	rep, err := p.object(deploy.ReplicaSpec{Deployment: "chat", Generation: 1, ID: "chat-g1-a",
		Spec: deploy.Spec{BaseModel: "hf://graft-ai/stories260K"}})
	if err != nil {
		t.Fatal(err)
	}
	pods := map[string]map[string]string{
		"envoy":    manifestPodLabels(t, "envoy.yaml"),
		"control":  manifestPodLabels(t, "control-plane.yaml"),
		"redis":    manifestPodLabels(t, "redis.yaml"),
		"replica":  rep.Spec.Template.Labels,
		"trainer":  (&Trainers{Namespace: "graft"}).TrainJob(jobs.TrainSpec{JobID: "ftjob-1", Run: 1}).Spec.Template.Labels,
		"stranger": {"app.kubernetes.io/name": "debug"},
	}
	for _, c := range []struct {
		from, to string
		port     int
		want     bool
	}{
		{"envoy", "control", 8080, true}, {"envoy", "control", 9001, true}, {"envoy", "control", 18000, true},
		{"control", "control", 8080, true},
		{"replica", "control", 8080, false}, {"trainer", "control", 8080, false}, {"stranger", "control", 8080, false},
		{"stranger", "control", 9001, false},
		{"envoy", "replica", 8000, true}, {"control", "replica", 8000, true},
		{"stranger", "replica", 8000, false}, {"trainer", "replica", 8000, false},
		{"control", "redis", 6379, true}, {"replica", "redis", 6379, true}, {"trainer", "redis", 6379, true},
		{"envoy", "redis", 6379, false}, {"stranger", "redis", 6379, false},
	} {
		if got := admits(pols, pods[c.from], pods[c.to], c.port); got != c.want {
			t.Errorf("%s → %s:%d admitted %v, want %v", c.from, c.to, c.port, got, c.want)
		}
	}
}

// admits is NetworkPolicy's rule for pods of one namespace: a pod no policy
// selects takes anything; otherwise some rule of a selecting policy must
// name a peer that matches and the port.
func admits(pols []networkingv1.NetworkPolicy, from, to map[string]string, port int) bool {
	selected := false
	for _, p := range pols {
		if !matches(&p.Spec.PodSelector, to) {
			continue
		}
		selected = true
		for _, r := range p.Spec.Ingress {
			if peerMatches(r.From, from) && portMatches(r.Ports, port) {
				return true
			}
		}
	}
	return !selected
}

func peerMatches(peers []networkingv1.NetworkPolicyPeer, pod map[string]string) bool {
	if len(peers) == 0 {
		return true
	}
	for _, peer := range peers {
		if peer.NamespaceSelector == nil && peer.IPBlock == nil && peer.PodSelector != nil && matches(peer.PodSelector, pod) {
			return true
		}
	}
	return false
}

func portMatches(ports []networkingv1.NetworkPolicyPort, port int) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Port == nil || p.Port.IntValue() == port {
			return true
		}
	}
	return false
}

func matches(sel *metav1.LabelSelector, pod map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(pod))
}

// manifestPodLabels is the pod template's labels of the one workload in file.
func manifestPodLabels(t *testing.T, file string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "kubernetes", file))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range decodeAll(t, file, data) {
		if k := u.GetKind(); k == "Deployment" || k == "StatefulSet" {
			l, _, _ := unstructured.NestedStringMap(u.Object, "spec", "template", "metadata", "labels")
			return l
		}
	}
	t.Fatalf("no workload in %s", file)
	return nil
}
