package kubeprovider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/graft-ai/graft/finetune/jobs"
)

// LabelTrainJob names the fine-tuning job a training Job runs.
const LabelTrainJob = "graft.ai/finetune-job"

// Trainers runs fine-tuning jobs as Kubernetes Jobs: "graft train" in the
// graft image, with the job's work folder on a PersistentVolumeClaim the
// control process mounts at the same path, so the trainer reads the config
// and data the runner wrote and leaves its checkpoints and adapter there. A
// pod that fails is retried by the Job and resumes from the checkpoint.
type Trainers struct {
	Client    kubernetes.Interface
	Namespace string
	Image     string
	// Claim is the PersistentVolumeClaim (ReadWriteMany) holding the
	// fine-tuning folder, mounted at MountPath in the control process too.
	Claim, MountPath string
	// Poll is how often a Job's status is read; default 2s.
	Poll time.Duration
	// HubEnv is passed to the trainer, which fetches an hf:// base model into
	// the pod's cache emptyDir (see Config.HubEnv).
	HubEnv []corev1.EnvVar
}

var _ jobs.Launcher = (*Trainers)(nil)

// TrainJobName is the Kubernetes name of run n of a fine-tuning job.
func TrainJobName(jobID string, run int) string {
	return fmt.Sprintf("%s-r%d", strings.ReplaceAll(jobID, "_", "-"), run)
}

// TrainJob is the Job object of one run.
func (t *Trainers) TrainJob(spec jobs.TrainSpec) *batchv1.Job {
	labels := map[string]string{LabelManagedBy: managedBy, LabelTrainJob: spec.JobID}
	backoff, ttl := int32(3), int32(3600)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: TrainJobName(spec.JobID, spec.Run), Namespace: t.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit:            &backoff,
			TTLSecondsAfterFinished: &ttl,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{
						Name: "train", Image: t.Image,
						Args: []string{"train", "--config", spec.ConfigPath, "--events", spec.EventsPath},
						// The pod has no volume with the base model: an hf:// one is
						// fetched into the cache, as a replica's is.
						Env: append([]corev1.EnvVar{{Name: "GRAFT_MODEL_CACHE", Value: modelCacheDir}}, t.HubEnv...),
						VolumeMounts: []corev1.VolumeMount{{Name: "finetune", MountPath: t.MountPath},
							{Name: "cache", MountPath: cacheDir}},
					}},
					Volumes: []corev1.Volume{{Name: "finetune", VolumeSource: corev1.VolumeSource{
						PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: t.Claim}}},
						{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				},
			},
		},
	}
}

// Launch creates the run's Job (or adopts it, after a control restart) and
// follows it.
func (t *Trainers) Launch(ctx context.Context, spec jobs.TrainSpec) (jobs.Trainer, error) {
	if !strings.HasPrefix(spec.ConfigPath, t.MountPath+"/") {
		return nil, fmt.Errorf("kubernetes trainer: %s is not on the shared volume at %s", spec.ConfigPath, t.MountPath)
	}
	job := t.TrainJob(spec)
	_, err := t.Client.BatchV1().Jobs(t.Namespace).Create(ctx, job, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	poll := t.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	tr := &kubeTrainer{t: t, name: job.Name, done: make(chan struct{}), stop: make(chan struct{})}
	go tr.follow(poll)
	return tr, nil
}

type kubeTrainer struct {
	t    *Trainers
	name string
	done chan struct{}
	stop chan struct{}
	once sync.Once
	err  error
	log  string
}

// follow reads the Job's status until it completes or fails.
func (k *kubeTrainer) follow(poll time.Duration) {
	defer close(k.done)
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		j, err := k.t.Client.BatchV1().Jobs(k.t.Namespace).Get(context.Background(), k.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			k.err = errors.New("the training Job was deleted")
			return
		case err == nil:
			for _, c := range j.Status.Conditions {
				if c.Status != corev1.ConditionTrue {
					continue
				}
				switch c.Type {
				case batchv1.JobComplete:
					return
				case batchv1.JobFailed:
					k.err, k.log = fmt.Errorf("training Job %s failed: %s", k.name, c.Reason), c.Message
					return
				}
			}
		}
		select {
		case <-k.stop:
			k.err = errors.New("stopped")
			return
		case <-tick.C:
		}
	}
}

func (k *kubeTrainer) Done() <-chan struct{} { return k.done }
func (k *kubeTrainer) Err() error            { return k.err }
func (k *kubeTrainer) Log() string           { return k.log }

// Stop deletes the Job and its pod (the trainer gets SIGTERM and its grace
// period) and stops following it.
func (k *kubeTrainer) Stop() {
	k.once.Do(func() {
		bg := metav1.DeletePropagationBackground
		_ = k.t.Client.BatchV1().Jobs(k.t.Namespace).Delete(context.Background(), k.name, metav1.DeleteOptions{PropagationPolicy: &bg})
		close(k.stop)
	})
	<-k.done
}
