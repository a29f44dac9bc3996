package kubeprovider

import (
	"bytes"
	"context"
	authorizationv1 "k8s.io/api/authorization/v1"
	"os"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
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
	"github.com/graft-ai/graft/finetune/jobs"
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

// TestTrainJobsUnderTheManifestsRBAC: the manifests' Role lets the control
// plane create, follow and delete the Jobs fine-tuning runs train in.
func TestTrainJobsUnderTheManifestsRBAC(t *testing.T) {
	needCluster(t)
	ns := namespace(t)
	applyRBAC(t, ns)
	rc := rest.CopyConfig(restConfig)
	rc.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":graft-control"}
	tr := &Trainers{Client: kubernetes.NewForConfigOrDie(rc), Namespace: ns, Image: "graft:test",
		Claim: "graft-finetune", MountPath: "/var/lib/graft/finetune", Poll: 20 * time.Millisecond}
	spec := func(id string) jobs.TrainSpec {
		dir := tr.MountPath + "/jobs/" + id
		return jobs.TrainSpec{JobID: id, Run: 1, ConfigPath: dir + "/train.json", EventsPath: dir + "/events-1.jsonl"}
	}
	ctx := context.Background()
	run, err := tr.Launch(ctx, spec("ftjob-rbac"))
	if err != nil {
		t.Fatalf("creating the Job as the service account: %v", err)
	}
	setCondition(t, ns, "ftjob-rbac-r1", batchv1.JobComplete, "", "")
	waitDone(t, run) // a Get the Role forbade would never see it end
	if run.Err() != nil {
		t.Fatal(run.Err())
	}
	run, err = tr.Launch(ctx, spec("ftjob-cancel"))
	if err != nil {
		t.Fatal(err)
	}
	run.Stop()
	if _, err := cluster.BatchV1().Jobs(ns).Get(ctx, "ftjob-cancel-r1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the stopped run's Job: %v, want it deleted by the service account", err)
	}
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
	waitAuthorized(t, ns)
}

// waitAuthorized waits until the API server's RBAC authorizer has the new
// Role and binding: it learns them from its own watch, a moment after they
// are created, and a request in between is forbidden.
func waitAuthorized(t *testing.T, ns string) {
	t.Helper()
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: "system:serviceaccount:" + ns + ":graft-control",
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: ns, Verb: "create", Group: "batch", Resource: "jobs"},
	}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := cluster.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), review, metav1.CreateOptions{})
		if err == nil && r.Status.Allowed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the manifests' Role never took effect for graft-control: %v %+v", err, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustUnmarshal(t *testing.T, doc []byte, o any) {
	t.Helper()
	if err := yaml.Unmarshal(doc, o); err != nil {
		t.Fatal(err)
	}
}
