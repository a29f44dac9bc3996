package kubeprovider

import (
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// FineTune is the fine-tuning folder on a ReadWriteMany
// PersistentVolumeClaim, mounted at MountPath in the control process, in the
// training Jobs and (read-only) in every replica pod, so replicas serve the
// adapters jobs publish as soon as they land.
type FineTune struct {
	Claim, MountPath string
	// TunedRoot, under MountPath, holds each deployment's fine-tuned
	// adapters in TunedRoot/DEPLOYMENT.
	TunedRoot string
}

const fineTuneVolume = "finetune"

// Trainers runs fine-tuning jobs as Jobs in the provider's namespace and
// image, on the fine-tuning claim; nil when no claim is configured.
func (p *Provider) Trainers() *Trainers {
	ft := p.cfg.FineTune
	if ft == nil {
		return nil
	}
	return &Trainers{Client: p.cfg.Client, Namespace: p.cfg.Namespace, Image: p.cfg.Image, Claim: ft.Claim, MountPath: ft.MountPath,
		HubEnv: p.cfg.HubEnv}
}

// tunedArgs mounts the claim read-only in the replica's pod and names the
// deployment's tuned folder; the folder is made here, through the control
// process's own mount, since the replicas cannot write it.
func (p *Provider) tunedArgs(deployment string, spec *corev1.PodSpec) ([]string, error) {
	ft := p.cfg.FineTune
	if ft == nil {
		return nil, nil
	}
	tuned := filepath.Join(ft.TunedRoot, deployment)
	if err := os.MkdirAll(tuned, 0o755); err != nil {
		return nil, err
	}
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: fineTuneVolume, VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: ft.Claim, ReadOnly: true}}})
	c := &spec.Containers[0]
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: fineTuneVolume, MountPath: ft.MountPath, ReadOnly: true})
	return []string{"--tuned-adapter-root", tuned}, nil
}
