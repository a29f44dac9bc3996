package kubeprovider

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/graft-ai/graft/finetune/jobs"
)

// A fine-tuning run becomes a Job the real API server accepts: graft train
// on the shared volume's paths; a completed Job ends the run without error,
// a failed one with its reason, and Stop deletes the Job. (The tests play
// the Job controller, which envtest does not run.)
func TestTrainJobs(t *testing.T) {
	needCluster(t)
	ns := namespace(t)
	tr := &Trainers{Client: cluster, Namespace: ns, Image: "graft:test", Claim: "finetune", MountPath: "/var/lib/graft/finetune",
		Poll: 20 * time.Millisecond, HubEnv: testHubEnv}
	spec := func(id string) jobs.TrainSpec {
		dir := "/var/lib/graft/finetune/jobs/" + id
		return jobs.TrainSpec{JobID: id, Run: 2, ConfigPath: dir + "/train.json", EventsPath: dir + "/events-2.jsonl"}
	}
	ctx := context.Background()
	if _, err := tr.Launch(ctx, jobs.TrainSpec{JobID: "ftjob-x", Run: 1, ConfigPath: "/elsewhere/train.json"}); err == nil {
		t.Fatal("launched a run whose files are not on the shared volume")
	}

	run, err := tr.Launch(ctx, spec("ftjob-ok"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := cluster.BatchV1().Jobs(ns).Get(ctx, "ftjob-ok-r2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := j.Spec.Template.Spec.Containers[0]
	if got := c.Args; len(got) != 5 || got[0] != "train" || got[2] != "/var/lib/graft/finetune/jobs/ftjob-ok/train.json" ||
		c.VolumeMounts[0].MountPath != tr.MountPath || j.Spec.Template.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "finetune" ||
		j.Labels[LabelTrainJob] != "ftjob-ok" {
		t.Fatalf("job spec: %+v", j.Spec.Template.Spec)
	}
	// An hf:// base model is fetched into a cache on the pod, from the Hub the
	// control process uses.
	vols := j.Spec.Template.Spec.Volumes
	if len(c.VolumeMounts) != 2 || c.VolumeMounts[1].MountPath != "/var/cache/graft" || len(vols) != 2 ||
		vols[1].Name != c.VolumeMounts[1].Name || vols[1].EmptyDir == nil ||
		!hasEnv(c.Env, append(testHubEnv, corev1.EnvVar{Name: "GRAFT_MODEL_CACHE", Value: "/var/cache/graft/models"})...) {
		t.Fatalf("model cache: mounts %+v, volumes %+v, env %+v", c.VolumeMounts, vols, c.Env)
	}
	// Relaunching the same run (a restarted control process) adopts it.
	if _, err := tr.Launch(ctx, spec("ftjob-ok")); err != nil {
		t.Fatalf("adopting the run's Job: %v", err)
	}
	setCondition(t, ns, "ftjob-ok-r2", batchv1.JobComplete, "", "")
	waitDone(t, run)
	if run.Err() != nil {
		t.Fatalf("a complete Job: %v", run.Err())
	}

	run, err = tr.Launch(ctx, spec("ftjob-bad"))
	if err != nil {
		t.Fatal(err)
	}
	setCondition(t, ns, "ftjob-bad-r2", batchv1.JobFailed, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
	waitDone(t, run)
	if run.Err() == nil || run.Log() != "Job has reached the specified backoff limit" {
		t.Fatalf("a failed Job: %v, %q", run.Err(), run.Log())
	}

	run, err = tr.Launch(ctx, spec("ftjob-stop"))
	if err != nil {
		t.Fatal(err)
	}
	run.Stop()
	if _, err := cluster.BatchV1().Jobs(ns).Get(ctx, "ftjob-stop-r2", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the stopped run's Job: %v, want it deleted", err)
	}
}

// setCondition plays the Job controller.
func setCondition(t *testing.T, ns, name string, typ batchv1.JobConditionType, reason, msg string) {
	t.Helper()
	ctx := context.Background()
	j, err := cluster.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	j.Status.StartTime = &now
	if typ == batchv1.JobComplete {
		j.Status.CompletionTime = &now
		j.Status.Succeeded = 1
		j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: batchv1.JobSuccessCriteriaMet,
			Status: corev1.ConditionTrue, LastProbeTime: now, LastTransitionTime: now})
	} else {
		j.Status.Failed = 1
		j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: batchv1.JobFailureTarget,
			Status: corev1.ConditionTrue, Reason: reason, Message: msg, LastProbeTime: now, LastTransitionTime: now})
	}
	j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: typ, Status: corev1.ConditionTrue,
		Reason: reason, Message: msg, LastProbeTime: now, LastTransitionTime: now})
	if _, err := cluster.BatchV1().Jobs(ns).UpdateStatus(ctx, j, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitDone(t *testing.T, run jobs.Trainer) {
	t.Helper()
	select {
	case <-run.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the run did not see its Job end")
	}
}
