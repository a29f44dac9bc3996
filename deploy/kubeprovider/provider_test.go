package kubeprovider

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/graft-ai/graft/deploy"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var spec = deploy.Spec{BaseModel: "hf://graft-ai/stories260K", Threads: 2, Device: "cuda", MaxActiveAdapters: 4, ContextLength: 512}

func start(t *testing.T, p *Provider, id string, gen int64) {
	t.Helper()
	if err := p.Start(context.Background(), deploy.ReplicaSpec{Deployment: "chat", ID: id, Generation: gen, Spec: spec}); err != nil {
		t.Fatal(err)
	}
}

// phases is a listing in short form: "id:phase@addr".
func phases(p *Provider) []string {
	var out []string
	for _, r := range p.List("chat") {
		s := r.ID + ":" + string(r.Phase)
		if r.Addr != "" {
			s += "@" + r.Addr
		}
		out = append(out, s)
	}
	return out
}

func waitPhases(t *testing.T, p *Provider, want ...string) {
	t.Helper()
	eventually(t, "replicas are "+strings.Join(want, " "), func() bool { return slices.Equal(phases(p), want) })
}

func scaleOf(t *testing.T, ns, name string) int32 {
	t.Helper()
	s, err := cluster.AppsV1().Deployments(ns).GetScale(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s.Spec.Replicas
}

func TestDeploymentAsSpecified(t *testing.T) {
	needCluster(t)
	ns := namespace(t)
	p := newProvider(t, ns, time.Hour)
	defer p.Close()
	start(t, p, "r1", 3)
	waitPhases(t, p, "r1:starting")

	d, err := cluster.AppsV1().Deployments(ns).Get(context.Background(), "chat-g3", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{LabelDeployment: "chat", LabelGeneration: "3", LabelManagedBy: "graft"} {
		if d.Spec.Template.Labels[k] != v || d.Labels[k] != v {
			t.Errorf("label %s: got %q on the template, %q on the object; want %q", k, d.Spec.Template.Labels[k], d.Labels[k], v)
		}
	}
	if u := d.Spec.Strategy.RollingUpdate; u == nil || u.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rolling update: %+v, want maxUnavailable 0", u)
	}
	c := d.Spec.Template.Spec.Containers[0]
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"serve --model hf://graft-ai/stories260K", "--deployment chat", "--replica-id $(GRAFT_REPLICA_ID)", "--device cuda", "--threads 2",
		"--model-cache /var/cache/graft/models"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	if !hasEnv(c.Env, testHubEnv...) {
		t.Errorf("env %+v lacks the Hub settings %+v", c.Env, testHubEnv)
	}
	if c.Image != "graft:test" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("container: image %q, readiness %+v", c.Image, c.ReadinessProbe)
	}
	if got := c.Resources.Requests[corev1.ResourceCPU]; got.Value() != 2 {
		t.Errorf("cpu request %v, want 2 (threads)", got.String())
	}
	if got := c.Resources.Limits["nvidia.com/gpu"]; got.Value() != 1 {
		t.Errorf("gpu limit %v, want 1 for device cuda", got.String())
	}
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g < 300 {
		t.Errorf("grace period %v, want at least the 5m drain", g)
	}
}

func TestReadyScaleStopDelete(t *testing.T) {
	needCluster(t)
	ns := namespace(t)
	p := newProvider(t, ns, time.Hour)
	defer p.Close()
	watch := p.Watch()
	start(t, p, "r1", 1)
	playReplicaSets(t, ns)
	pod := replicaPod(t, ns, "r1")
	select {
	case <-watch:
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not fire on start")
	}
	playKubelet(t, ns, pod.Name, ready("10.0.0.11"))
	waitPhases(t, p, "r1:live@10.0.0.11:8000")

	start(t, p, "r2", 1)
	start(t, p, "r3", 1)
	if n := scaleOf(t, ns, "chat-g1"); n != 3 {
		t.Fatalf("scale %d after three starts, want 3", n)
	}
	waitPhases(t, p, "r1:live@10.0.0.11:8000", "r2:starting", "r3:starting")
	playReplicaSets(t, ns)
	playKubelet(t, ns, replicaPod(t, ns, "r2").Name, ready("10.0.0.12"))
	playKubelet(t, ns, replicaPod(t, ns, "r3").Name, ready("10.0.0.13"))
	waitPhases(t, p, "r1:live@10.0.0.11:8000", "r2:live@10.0.0.12:8000", "r3:live@10.0.0.13:8000")

	// Stopping r2 scales to 2 and takes r2's own pod, not another.
	if err := p.Stop(context.Background(), "chat", "r2"); err != nil {
		t.Fatal(err)
	}
	if n := scaleOf(t, ns, "chat-g1"); n != 2 {
		t.Fatalf("scale %d after a stop, want 2", n)
	}
	playReplicaSets(t, ns)
	waitPhases(t, p, "r1:live@10.0.0.11:8000", "r3:live@10.0.0.13:8000")

	for _, id := range []string{"r1", "r3"} {
		if err := p.Stop(context.Background(), "chat", id); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the Deployment is deleted", func() bool {
		_, err := cluster.AppsV1().Deployments(ns).Get(context.Background(), "chat-g1", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	waitPhases(t, p)
	if pods := livePods(t, ns, map[string]string{LabelManagedBy: "graft"}); len(pods) != 0 {
		t.Errorf("%d pods left after every replica stopped", len(pods))
	}
}

func TestStuckPodsFailWithTheirReason(t *testing.T) {
	needCluster(t)
	ns := namespace(t)
	p := newProvider(t, ns, time.Second)
	defer p.Close()
	start(t, p, "crash", 1)
	start(t, p, "nogpu", 1)
	playReplicaSets(t, ns)
	playKubelet(t, ns, replicaPod(t, ns, "crash").Name, crashLooping)
	playKubelet(t, ns, replicaPod(t, ns, "nogpu").Name, func(s *corev1.PodStatus) {
		s.Phase = corev1.PodPending
		s.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}}
	})
	eventually(t, "both replicas failed", func() bool {
		rs := p.List("chat")
		return len(rs) == 2 && rs[0].Phase == deploy.PhaseFailed && rs[1].Phase == deploy.PhaseFailed
	})
	rs := p.List("chat")
	if want := "CrashLoopBackOff: back-off 1m20s restarting failed container=graft"; rs[0].Reason != want {
		t.Errorf("crash reason %q, want %q", rs[0].Reason, want)
	}
	if want := "Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."; rs[1].Reason != want {
		t.Errorf("unschedulable reason %q, want %q", rs[1].Reason, want)
	}
}

func TestRestartRelists(t *testing.T) {
	needCluster(t)
	ns := namespace(t)
	p := newProvider(t, ns, time.Hour)
	start(t, p, "a", 1)
	start(t, p, "b", 1)
	start(t, p, "c", 2) // a rollout in progress: two generations
	playReplicaSets(t, ns)
	playKubelet(t, ns, replicaPod(t, ns, "a").Name, ready("10.0.1.1"))
	playKubelet(t, ns, replicaPod(t, ns, "c").Name, ready("10.0.2.1"))
	want := []string{"a:live@10.0.1.1:8000", "b:starting", "c:live@10.0.2.1:8000"}
	waitPhases(t, p, want...)
	p.Close()

	p2 := newProvider(t, ns, time.Hour)
	defer p2.Close()
	if got := phases(p2); !slices.Equal(got, want) {
		t.Fatalf("after a restart: %v, want %v", got, want)
	}
	start(t, p2, "d", 2)
	if err := p2.Start(context.Background(), deploy.ReplicaSpec{Deployment: "chat", ID: "a", Generation: 1, Spec: spec}); err == nil {
		t.Error("starting an id that exists succeeded")
	}
	deps, err := cluster.AppsV1().Deployments(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(deps.Items) != 2 || scaleOf(t, ns, "chat-g2") != 2 || scaleOf(t, ns, "chat-g1") != 2 {
		t.Errorf("after restart and a start: %d Deployments, scales g1 %d g2 %d; want 2, 2 and 2",
			len(deps.Items), scaleOf(t, ns, "chat-g1"), scaleOf(t, ns, "chat-g2"))
	}
	playReplicaSets(t, ns)
	waitPhases(t, p2, append(want, "d:starting")...)
}

func crashLooping(s *corev1.PodStatus) {
	s.Phase = corev1.PodRunning
	s.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}
	s.ContainerStatuses = []corev1.ContainerStatus{{Name: containerName, Image: "graft:test", RestartCount: 4,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
			Message: "back-off 1m20s restarting failed container=graft"}}}}
}

// A pod on a node drains through its grace period; a provider restarted in
// between still lists its replica as stopping, and forgets it, and the
// Deployment, once the kubelet has let the pod go.
func TestRestartWhileStopping(t *testing.T) {
	needCluster(t)
	ns := namespace(t)
	ctx := context.Background()
	p := newProvider(t, ns, time.Hour)
	start(t, p, "a", 1)
	playReplicaSets(t, ns)
	pod := replicaPod(t, ns, "a")
	bind(t, ns, pod.Name)
	playKubelet(t, ns, pod.Name, ready("10.0.4.1"))
	waitPhases(t, p, "a:live@10.0.4.1:8000")
	if err := p.Stop(ctx, "chat", "a"); err != nil {
		t.Fatal(err)
	}
	waitPhases(t, p, "a:stopping")
	p.Close()

	p2 := newProvider(t, ns, time.Hour)
	defer p2.Close()
	if got := phases(p2); !slices.Equal(got, []string{"a:stopping"}) {
		t.Fatalf("after a restart: %v, want a stopping", got)
	}
	// The kubelet's part: the pod's streams are done, it is gone.
	zero := int64(0)
	if err := cluster.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	waitPhases(t, p2)
	eventually(t, "the Deployment is deleted", func() bool {
		_, err := cluster.AppsV1().Deployments(ns).Get(ctx, "chat-g1", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}

// hasEnv says whether env holds every variable of want with its value.
func hasEnv(env []corev1.EnvVar, want ...corev1.EnvVar) bool {
	for _, w := range want {
		found := false
		for _, e := range env {
			found = found || e.Name == w.Name && e.Value == w.Value
		}
		if !found {
			return false
		}
	}
	return true
}

func TestHubEnvFromEnvironment(t *testing.T) {
	t.Setenv("HF_ENDPOINT", "http://mirror.example")
	t.Setenv("HF_TOKEN", "")
	env := HubEnvFromEnvironment("")
	if len(env) != 1 || env[0] != (corev1.EnvVar{Name: "HF_ENDPOINT", Value: "http://mirror.example"}) {
		t.Fatalf("env %+v, want only the endpoint (no empty token)", env)
	}
	t.Setenv("HF_TOKEN", "hf_secret")
	if env := HubEnvFromEnvironment(""); len(env) != 2 || env[1] != (corev1.EnvVar{Name: "HF_TOKEN", Value: "hf_secret"}) {
		t.Fatalf("env %+v, want the endpoint and the token", env)
	}
	env = HubEnvFromEnvironment("graft-hub")
	if len(env) != 2 || env[1].Value != "" || env[1].ValueFrom == nil || env[1].ValueFrom.SecretKeyRef == nil ||
		env[1].ValueFrom.SecretKeyRef.Name != "graft-hub" || env[1].ValueFrom.SecretKeyRef.Key != "HF_TOKEN" {
		t.Fatalf("env %+v, want the token from Secret graft-hub, never its value", env)
	}
}
