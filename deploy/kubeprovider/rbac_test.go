package kubeprovider

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/graft-ai/graft/deploy/providertest"
)

// TestContractUnderTheManifestsRBAC runs the provider as the control plane's
// service account with the Role of deploy/kubernetes/rbac.yaml and nothing
// else: the least privilege the manifests grant is enough, and no more is
// granted (the account cannot read Secrets).
func TestContractUnderTheManifestsRBAC(t *testing.T) {
	needCluster(t)
	ns := namespace(t)
	ctx := context.Background()
	applyRBAC(t, ns)
	rc := rest.CopyConfig(restConfig)
	rc.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":graft-control"}
	sa := kubernetes.NewForConfigOrDie(rc)
	if _, err := sa.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the service account listing Secrets: %v, want forbidden", err)
	}
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// With an InferencePool per deployment too, so its rule is checked.
	if _, err := envtest.InstallCRDs(restConfig, envtest.CRDInstallOptions{Paths: []string{"../kubernetes/crds"}}); err != nil {
		t.Fatal(err)
	}
	pool := &InferencePool{Client: dynamic.NewForConfigOrDie(rc), Picker: "gie-epp", PickerPort: 9002}
	p, err := New(lctx, Config{Client: sa, Namespace: ns, Image: "graft:test", Redis: "redis://redis:6379", FailAfter: time.Second,
		InferencePool: pool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	providertest.Run(t, providertest.Harness{Provider: p, Spec: spec, FailSpec: spec,
		Live: func(t *testing.T, _, id string) {
			playReplicaSets(t, ns)
			playKubelet(t, ns, replicaPod(t, ns, id).Name, ready("10.0.9.2"))
		},
		Fail: func(t *testing.T, _, id string) string {
			playReplicaSets(t, ns)
			playKubelet(t, ns, replicaPod(t, ns, id).Name, crashLooping)
			return "CrashLoopBackOff"
		},
		Deadline: 20 * time.Second})
}

// applyRBAC creates rbac.yaml's objects for real in ns.
func applyRBAC(t *testing.T, ns string) {
	t.Helper()
	data, err := os.ReadFile("../kubernetes/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.Kind {
		case "ServiceAccount":
			var o corev1.ServiceAccount
			mustUnmarshal(t, doc, &o)
			o.Namespace = ns
			_, err = cluster.CoreV1().ServiceAccounts(ns).Create(ctx, &o, metav1.CreateOptions{})
		case "Role":
			var o rbacv1.Role
			mustUnmarshal(t, doc, &o)
			o.Namespace = ns
			_, err = cluster.RbacV1().Roles(ns).Create(ctx, &o, metav1.CreateOptions{})
		case "RoleBinding":
			var o rbacv1.RoleBinding
			mustUnmarshal(t, doc, &o)
			o.Namespace = ns
			for i := range o.Subjects {
				o.Subjects[i].Namespace = ns
			}
			_, err = cluster.RbacV1().RoleBindings(ns).Create(ctx, &o, metav1.CreateOptions{})
		default:
			t.Fatalf("rbac.yaml holds a %s", meta.Kind)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func mustUnmarshal(t *testing.T, doc []byte, o any) {
	t.Helper()
	if err := yaml.Unmarshal(doc, o); err != nil {
		t.Fatal(err)
	}
}
