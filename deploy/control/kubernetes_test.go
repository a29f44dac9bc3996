package control

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/kubeprovider"
)

// startCluster runs a real kube-apiserver and etcd for one test (no kubelet,
// no controller manager) and writes a kubeconfig for it.
func startCluster(t *testing.T) (kubernetes.Interface, string) {
	t.Helper()
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); dir == "" || err != nil {
		t.Skip("no kube-apiserver in $KUBEBUILDER_ASSETS (run `make kube-assets`)")
	}
	env := &envtest.Environment{BinaryAssetsDirectory: dir}
	env.ControlPlane.GetAPIServer().Configure().Set("endpoint-reconciler-type", "none")
	rc, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(kubeconfig(rc), path); err != nil {
		t.Fatal(err)
	}
	return kubernetes.NewForConfigOrDie(rc), path
}

func kubeconfig(rc *rest.Config) clientcmdapi.Config {
	c := clientcmdapi.NewConfig()
	c.Clusters["envtest"] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthorityData: rc.CAData}
	c.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{ClientCertificateData: rc.CertData, ClientKeyData: rc.KeyData, Token: rc.BearerToken}
	c.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	c.CurrentContext = "envtest"
	return *c
}

// TestControlOnKubernetes: a control process on the kubernetes provider,
// reaching the cluster through a kubeconfig, turns a deployment into a
// Kubernetes Deployment; once its pod is Ready the deployment is Ready and
// its replica's address is the pod's.
func TestControlOnKubernetes(t *testing.T) {
	client, kc := startCluster(t)
	r := startRedis(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const ns = "graft"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	owner := ownerDeployment(t, client, ns)
	_, err := Start(ctx, Config{Redis: r.URL, Listen: "127.0.0.1:0", Provider: ProviderKubernetes,
		Kubernetes: Kubernetes{Namespace: ns, Image: "graft:test", Kubeconfig: kc, InferencePoolPicker: "epp"}})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "Kubernetes.InferencePoolPicker" {
		t.Errorf("picker without a port: %v, want a ConfigError on Kubernetes.InferencePoolPicker", err)
	}
	ctl, err := Start(ctx, Config{Redis: r.URL, Listen: "127.0.0.1:0", Tick: 100 * time.Millisecond, Provider: ProviderKubernetes,
		Kubernetes: Kubernetes{Namespace: ns, Image: "graft:test", Kubeconfig: kc, Owner: owner.Name}})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := deploy.DecodeSpec([]byte(`{"base_model": "hf://graft-ai/stories260K", "min_replicas": 1, "threads": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Manager.Create(ctx, "chat", spec); err != nil {
		t.Fatal(err)
	}
	pod := playReplicaSet(t, client, ns)
	deps, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: kubeprovider.LabelDeployment + "=chat"})
	if err != nil {
		t.Fatal(err)
	}
	if refs := deps.Items[0].OwnerReferences; len(refs) != 1 || refs[0].UID != owner.UID || refs[0].Kind != "Deployment" {
		t.Errorf("owner references %+v, want the control plane's Deployment %s", refs, owner.UID)
	}
	if pod.Spec.Containers[0].Image != "graft:test" {
		t.Errorf("pod image %q, want graft:test", pod.Spec.Containers[0].Image)
	}
	markReady(t, client, ns, pod.Name, "10.0.7.1")
	eventually(t, "chat is Ready", func() bool {
		rec, err := ctl.Manager.Get(ctx, "chat")
		return err == nil && rec.Status == deploy.Ready
	})
	rs := ctl.Provider.List("chat")
	if len(rs) != 1 || rs[0].Addr != "10.0.7.1:8000" || rs[0].Phase != deploy.PhaseLive {
		t.Errorf("replicas %+v, want one live at 10.0.7.1:8000", rs)
	}
	cancel()
	if err := ctl.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestControlKubernetesConfigErrors: a kubernetes provider missing what it
// needs is a ConfigError naming the field, not a hang or a crash.
func TestControlKubernetesConfigErrors(t *testing.T) {
	r := startRedis(t, t.TempDir())
	for _, c := range []struct {
		field string
		cfg   Config
	}{
		{"Provider", Config{Provider: "nomad"}},
		{"Kubernetes.Namespace", Config{Provider: ProviderKubernetes, Kubernetes: Kubernetes{Image: "graft"}}},
		{"Kubernetes.Image", Config{Provider: ProviderKubernetes, Kubernetes: Kubernetes{Namespace: "graft"}}},
		{"Kubernetes.Kubeconfig", Config{Provider: ProviderKubernetes, Kubernetes: Kubernetes{Namespace: "graft", Image: "graft",
			Kubeconfig: filepath.Join(t.TempDir(), "missing")}}},
		{"Kubernetes.FineTuneClaim", Config{FineTune: t.TempDir(), Kubernetes: Kubernetes{FineTuneClaim: "ft"}}},
		{"Kubernetes.FineTuneClaim", Config{Provider: ProviderKubernetes, Kubernetes: Kubernetes{Namespace: "graft", Image: "graft",
			FineTuneClaim: "ft"}}},
	} {
		c.cfg.Redis, c.cfg.Listen = r.URL, "127.0.0.1:0"
		_, err := Start(context.Background(), c.cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("%s: got %v, want a ConfigError on %s", c.field, err, c.field)
		}
	}
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

// playReplicaSet does the ReplicaSet controller's part for the one
// Deployment the provider made: a pod from its template.
func playReplicaSet(t *testing.T, client kubernetes.Interface, ns string) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	var pod *corev1.Pod
	eventually(t, "the provider creates a Deployment", func() bool {
		l, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{LabelSelector: kubeprovider.LabelDeployment + "=chat"})
		if err != nil || len(l.Items) != 1 || *l.Items[0].Spec.Replicas != 1 {
			return false
		}
		d := l.Items[0]
		pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: d.Name + "-", Labels: d.Spec.Template.Labels},
			Spec: d.Spec.Template.Spec}
		return true
	})
	pod, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

// markReady writes the pod's status as a kubelet would once its readiness
// probe passes.
func markReady(t *testing.T, client kubernetes.Interface, ns, name, ip string) {
	t.Helper()
	ctx := context.Background()
	// The provider labels the pod as it binds it to a replica id, so a write
	// on a stale version is retried, as a kubelet would.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		pod.Status.Phase = corev1.PodRunning
		pod.Status.PodIP, pod.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
		pod.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
		_, err = client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// ownerDeployment stands for the control plane's own Deployment, which owns
// what the provider makes.
func ownerDeployment(t *testing.T, client kubernetes.Interface, ns string) *appsv1.Deployment {
	t.Helper()
	sel := map[string]string{"app.kubernetes.io/name": "graft-control"}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "graft-control", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "control", Image: "graft:test"}}}}}}
	d, err := client.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}
