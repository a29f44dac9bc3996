package kubeprovider

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/graft-ai/graft/deploy"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Labels and annotations the provider writes. The replica ids the controller
// asked for live in the Deployment's annotations, not in this process, so a
// restarted provider finds them again by listing.
const (
	LabelManagedBy  = "app.kubernetes.io/managed-by"
	LabelDeployment = "graft.ai/deployment"
	LabelGeneration = "graft.ai/generation"
	LabelReplica    = "graft.ai/replica"
	annReplicas     = "graft.ai/replicas"
	annStopping     = "graft.ai/stopping"
	// annDeletionCost makes the ReplicaSet controller remove the stopped
	// replica's pod when the scale goes down, not another one.
	annDeletionCost = "controller.kubernetes.io/pod-deletion-cost"
	managedBy       = "graft"
	containerName   = "graft"
	cacheDir        = "/var/cache/graft"
	// modelCacheDir holds hf:// base models, on the pod's cache emptyDir: a
	// pod fetches its model once, and a restarted container finds it there.
	modelCacheDir = cacheDir + "/models"
)

// objectName is the Kubernetes Deployment of one generation: generations are
// rolled replica by replica by graft's controller, so each has its own.
func objectName(deployment string, generation int64) string {
	return fmt.Sprintf("%s-g%d", deployment, generation)
}

func ids(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// object is the Kubernetes Deployment that runs the replicas of one
// generation: one `graft serve` container per pod (engine and sidecar in one
// process, as the local provider runs them).
func (p *Provider) object(rs deploy.ReplicaSpec) (*appsv1.Deployment, error) {
	args, err := p.args(rs)
	if err != nil {
		return nil, err
	}
	sel := map[string]string{LabelManagedBy: managedBy, LabelDeployment: rs.Deployment,
		LabelGeneration: strconv.FormatInt(rs.Generation, 10)}
	one := int32(1)
	zero := intstr.FromInt32(0)
	surge := intstr.FromInt32(1)
	grace := int64((p.cfg.Drain + 10e9) / 1e9)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name: objectName(rs.Deployment, rs.Generation), Namespace: p.cfg.Namespace,
			Labels:      sel,
			Annotations: map[string]string{annReplicas: rs.ID},
			Finalizers:  []string{finalizer},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &surge}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: sel},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: &grace,
					Containers:                    []corev1.Container{p.container(rs, args)},
					Volumes: []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{
						EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				},
			},
		},
	}
	tuned, err := p.tunedArgs(rs.Deployment, &d.Spec.Template.Spec)
	if err != nil {
		return nil, err
	}
	c := &d.Spec.Template.Spec.Containers[0]
	c.Args = append(c.Args, tuned...)
	if p.cfg.Owner != nil {
		d.OwnerReferences = []metav1.OwnerReference{*p.cfg.Owner}
	}
	return d, nil
}

func (p *Provider) container(rs deploy.ReplicaSpec, args []string) corev1.Container {
	req := corev1.ResourceList{corev1.ResourceMemory: p.cfg.Memory}
	threads := rs.Spec.Threads
	if threads <= 0 {
		threads = 1
	}
	req[corev1.ResourceCPU] = *resource.NewQuantity(int64(threads), resource.DecimalSI)
	limits := corev1.ResourceList{}
	if strings.HasPrefix(rs.Spec.Device, "cuda") {
		gpu := resource.MustParse("1")
		req["nvidia.com/gpu"], limits["nvidia.com/gpu"] = gpu, gpu
	}
	return corev1.Container{
		Name: containerName, Image: p.cfg.Image, Args: args,
		Env: append([]corev1.EnvVar{
			{Name: "GRAFT_REDIS", Value: p.cfg.Redis},
			// The provider labels each pod with the replica id it stands
			// for before the kubelet starts it; the heartbeat carries it.
			{Name: "GRAFT_REPLICA_ID", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
				FieldPath: "metadata.labels['" + LabelReplica + "']"}}},
		}, p.cfg.HubEnv...),
		Ports:     []corev1.ContainerPort{{Name: "http", ContainerPort: p.cfg.Port}},
		Resources: corev1.ResourceRequirements{Requests: req, Limits: limits},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: "/readyz", Port: intstr.FromString("http")}},
			PeriodSeconds: 2, FailureThreshold: 3,
		},
		VolumeMounts: []corev1.VolumeMount{{Name: "cache", MountPath: cacheDir}},
	}
}

// args is the replica's `graft serve` command line; every flag the spec
// decides is given, as the local provider gives it.
func (p *Provider) args(rs deploy.ReplicaSpec) ([]string, error) {
	s := rs.Spec
	root, err := s.AdapterRoot()
	if err != nil {
		return nil, err
	}
	device := s.Device
	if device == "" {
		device = "cpu"
	}
	return []string{"serve", "--model", s.BaseModel, "--listen", fmt.Sprintf("0.0.0.0:%d", p.cfg.Port),
		"--served-model-name", rs.Deployment, "--deployment", rs.Deployment,
		"--replica-id", "$(GRAFT_REPLICA_ID)", "--drain-timeout", p.cfg.Drain.String(),
		"--adapter-root", root, "--adapter-cache", cacheDir + "/adapters", "--model-cache", modelCacheDir,
		"--threads", fmt.Sprint(s.Threads), "--max-active-adapters", fmt.Sprint(s.MaxActiveAdapters),
		"--max-model-len", fmt.Sprint(s.ContextLength), "--device", device}, nil
}

// HubEnvFromEnvironment passes on the Hub settings this process has, as
// huggingface_hub reads them: HF_ENDPOINT, and HF_TOKEN. With tokenSecret
// the pods read the token from that Secret's key HF_TOKEN (optional, so a
// public Hub needs none), and this process's own token is never written into
// a pod spec, where whoever may read Deployments and Jobs would see it.
func HubEnvFromEnvironment(tokenSecret string) []corev1.EnvVar {
	var env []corev1.EnvVar
	if v := os.Getenv("HF_ENDPOINT"); v != "" {
		env = append(env, corev1.EnvVar{Name: "HF_ENDPOINT", Value: v})
	}
	optional := true
	switch v := os.Getenv("HF_TOKEN"); {
	case tokenSecret != "":
		env = append(env, corev1.EnvVar{Name: "HF_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: tokenSecret}, Key: "HF_TOKEN", Optional: &optional}}})
	case v != "":
		env = append(env, corev1.EnvVar{Name: "HF_TOKEN", Value: v})
	}
	return env
}
