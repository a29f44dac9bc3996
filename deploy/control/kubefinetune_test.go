package control

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/kubeprovider"
)

// TestFineTuningOnKubernetes: with the fine-tuning claim a control process
// on the kubernetes provider serves the fine-tuning API, trains a job as a
// Kubernetes Job on the claim and publishes its adapter once the Job
// completes; replica pods mount the claim read-only and are told their tuned
// folder. (No kubelet or Job controller runs: the test writes the adapter as
// the trainer pod would, on the shared folder, and the Job's status.)
func TestFineTuningOnKubernetes(t *testing.T) {
	client, kc := startCluster(t)
	r := startRedis(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const ns = "graft"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ftDir := t.TempDir() // the claim, as this process mounts it
	ctl, err := Start(ctx, Config{Redis: r.URL, Listen: "127.0.0.1:0", Tick: 100 * time.Millisecond, Provider: ProviderKubernetes,
		FineTune: ftDir, Kubernetes: Kubernetes{Namespace: ns, Image: "graft:test", Kubeconfig: kc, FineTuneClaim: "graft-finetune"}})
	if err != nil {
		t.Fatal(err)
	}
	// A base model on a path the pods see too (here: any folder).
	spec, err := deploy.DecodeSpec([]byte(`{"base_model": "` + t.TempDir() + `", "min_replicas": 1, "threads": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Manager.Create(ctx, "chat", spec); err != nil {
		t.Fatal(err)
	}
	checkReplicaMount(t, playReplicaSet(t, client, ns), ftDir)

	base := "http://" + ctl.Addr()
	fileID := upload(t, base, `{"prompt": "a", "completion": "b"}`+"\n")
	var job struct{ ID, Status string }
	post(t, base+"/v1/fine_tuning/jobs", `{"model": "chat", "training_file": "`+fileID+`", "suffix": "k8s"}`, &job)

	var kj batchv1.Job
	eventually(t, "a Kubernetes Job trains it", func() bool {
		l, err := client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{LabelSelector: kubeprovider.LabelTrainJob + "=" + job.ID})
		if err != nil || len(l.Items) != 1 {
			return false
		}
		kj = l.Items[0]
		return true
	})
	ps := kj.Spec.Template.Spec
	c := ps.Containers[0]
	if c.Image != "graft:test" || c.Args[0] != "train" || !strings.HasPrefix(c.Args[2], ftDir+"/jobs/"+job.ID+"/") ||
		c.VolumeMounts[0].MountPath != ftDir || ps.Volumes[0].PersistentVolumeClaim.ClaimName != "graft-finetune" {
		t.Fatalf("training Job: %+v", ps)
	}
	// The trainer's output, on the shared folder.
	out := filepath.Join(ftDir, "jobs", job.ID, "adapter")
	os.MkdirAll(out, 0o755)
	for _, f := range []string{"adapter_config.json", "adapter_model.safetensors"} {
		if err := os.WriteFile(filepath.Join(out, f), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	completeJob(t, client, ns, kj.Name)
	var got struct {
		Status         string
		FineTunedModel string `json:"fine_tuned_model"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for got.Status != "succeeded" {
		if time.Now().After(deadline) {
			t.Fatalf("job %s is %q, want succeeded", job.ID, got.Status)
		}
		time.Sleep(100 * time.Millisecond)
		get(t, base+"/v1/fine_tuning/jobs/"+job.ID, &got)
	}
	name, ok := strings.CutPrefix(got.FineTunedModel, "chat/ft/")
	if !ok {
		t.Fatalf("fine-tuned model %q, want chat/ft/...", got.FineTunedModel)
	}
	// Published where the replica pods' --tuned-adapter-root points.
	if _, err := os.Stat(filepath.Join(ftDir, "adapters", "chat", filepath.FromSlash(name), "adapter_config.json")); err != nil {
		t.Fatalf("the published adapter: %v", err)
	}
	cancel()
	if err := ctl.Wait(); err != nil {
		t.Fatal(err)
	}
}

// checkReplicaMount: the replica pod mounts the claim read-only where the
// control process does and serves the deployment's tuned folder.
func checkReplicaMount(t *testing.T, pod *corev1.Pod, ftDir string) {
	t.Helper()
	tuned := filepath.Join(ftDir, "adapters", "chat")
	c := pod.Spec.Containers[0]
	i := slices.Index(c.Args, "--tuned-adapter-root")
	if i < 0 || c.Args[i+1] != tuned {
		t.Errorf("replica args %q, want --tuned-adapter-root %s", c.Args, tuned)
	}
	if fi, err := os.Stat(tuned); err != nil || !fi.IsDir() {
		t.Errorf("the tuned folder was not made: %v", err)
	}
	vol := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool {
		return v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == "graft-finetune" && v.PersistentVolumeClaim.ReadOnly
	})
	mnt := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == ftDir && m.ReadOnly })
	if vol < 0 || mnt < 0 || c.VolumeMounts[mnt].Name != pod.Spec.Volumes[vol].Name {
		t.Errorf("replica pod volumes %+v mounts %+v, want the claim read-only at %s", pod.Spec.Volumes, c.VolumeMounts, ftDir)
	}
}

// completeJob plays the Job controller once the trainer pod succeeded.
func completeJob(t *testing.T, client kubernetes.Interface, ns, name string) {
	t.Helper()
	ctx := context.Background()
	j, err := client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	j.Status.StartTime, j.Status.CompletionTime, j.Status.Succeeded = &now, &now, 1
	for _, typ := range []batchv1.JobConditionType{batchv1.JobSuccessCriteriaMet, batchv1.JobComplete} {
		j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: typ, Status: corev1.ConditionTrue,
			LastProbeTime: now, LastTransitionTime: now})
	}
	if _, err := client.BatchV1().Jobs(ns).UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

const testTenant = "acme"

func upload(t *testing.T, base, data string) string {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("file", "d.jsonl")
	fw.Write([]byte(data))
	mw.WriteField("purpose", "fine-tune")
	mw.Close()
	var f struct{ ID string }
	do(t, "POST", base+"/v1/files", mw.FormDataContentType(), &b, &f)
	return f.ID
}

func post(t *testing.T, url, body string, out any) {
	t.Helper()
	do(t, "POST", url, "application/json", strings.NewReader(body), out)
}

func get(t *testing.T, url string, out any) {
	t.Helper()
	do(t, "GET", url, "", nil, out)
}

func do(t *testing.T, method, url, ctype string, body io.Reader, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("X-Graft-Tenant", testTenant)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d", method, url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}
