package kubeprovider

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/graft-ai/graft/deploy"
	corev1 "k8s.io/api/core/v1"
)

// stuckReasons are the kubelet's waiting reasons that do not clear by
// themselves; a replica stuck in one past FailAfter has failed.
var stuckReasons = map[string]bool{
	"CrashLoopBackOff": true, "ImagePullBackOff": true, "ErrImagePull": true,
	"InvalidImageName": true, "CreateContainerConfigError": true, "CreateContainerError": true,
}

// podPhase is what a replica's pod says about it at now.
func (p *Provider) podPhase(pod *corev1.Pod, now time.Time) (deploy.Phase, string, string) {
	if isReady(pod) && pod.Status.PodIP != "" {
		return deploy.PhaseLive, "", net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(p.cfg.Port)))
	}
	why := stuck(pod)
	if why != "" && now.Sub(pod.CreationTimestamp.Time) >= p.cfg.FailAfter {
		return deploy.PhaseFailed, why, ""
	}
	return deploy.PhaseStarting, "", ""
}

func isReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// stuck is the Kubernetes reason a pod cannot get ready on its own, with
// Kubernetes' message ("Unschedulable: 0/3 nodes are available: ..."), or "".
func stuck(pod *corev1.Pod) string {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return withMessage(c.Reason, c.Message)
		}
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && stuckReasons[w.Reason] {
			return withMessage(w.Reason, w.Message)
		}
	}
	if pod.Status.Phase == corev1.PodFailed {
		return withMessage("PodFailed: "+pod.Status.Reason, pod.Status.Message)
	}
	return ""
}

func withMessage(reason, msg string) string {
	if msg == "" {
		return reason
	}
	return fmt.Sprintf("%s: %s", reason, msg)
}
