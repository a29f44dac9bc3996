package kubeprovider

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/graft-ai/graft/deploy"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/retry"
)

// finalizer holds each Deployment the provider makes until the provider has
// deleted its ReplicaSets and pods itself. Whoever deletes the Deployment (the
// provider once its last replica stopped, an operator, the garbage collector
// after the control plane that owns it), nothing is orphaned: not with
// --cascade=orphan, not where no garbage collector runs. And while its pods
// drain, the Deployment still lists their replicas as stopping, so graft's
// controllers do not count them gone too early.
const finalizer = "graft.ai/replicas"

// errDeleting refuses a replica to a Deployment on its way out; the
// controller starts it again once the Deployment is gone.
var errDeleting = errors.New("its Deployment is being deleted: its pods drain first")

// release is tidy's part for a deleted Deployment: its ReplicaSets first (so
// nothing makes pods again), then its pods, with their grace period to
// drain; once no pod is left the finalizer goes, and the Deployment with it.
func (p *Provider) release(ctx context.Context, d *appsv1.Deployment) error {
	if !slices.Contains(d.Finalizers, finalizer) {
		return nil
	}
	sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels).String()
	rsc := p.cfg.Client.AppsV1().ReplicaSets(p.cfg.Namespace)
	rss, err := rsc.List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Errorf("list replica sets of %s: %w", d.Name, err)
	}
	bg := metav1.DeletePropagationBackground
	for _, rs := range rss.Items {
		if err := rsc.Delete(ctx, rs.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); ignoreNotFound(err) != nil {
			return fmt.Errorf("delete replica set %s: %w", rs.Name, err)
		}
	}
	pc := p.cfg.Client.CoreV1().Pods(p.cfg.Namespace)
	pods, err := pc.List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Errorf("list pods of %s: %w", d.Name, err)
	}
	for _, pod := range pods.Items {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if err := pc.Delete(ctx, pod.Name, metav1.DeleteOptions{}); ignoreNotFound(err) != nil {
			return fmt.Errorf("delete pod %s: %w", pod.Name, err)
		}
	}
	if len(pods.Items) > 0 {
		return nil // the next round, once the kubelet has let them go
	}
	dc := p.cfg.Client.AppsV1().Deployments(p.cfg.Namespace)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := dc.Get(ctx, d.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Finalizers = slices.DeleteFunc(cur.Finalizers, func(f string) bool { return f == finalizer })
		_, err = dc.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

// draining lists the replicas of a deleted Deployment whose pods are still
// there (going away, or about to): every one is stopping.
func (p *Provider) draining(d *appsv1.Deployment, gen int64) []deploy.Replica {
	pods, _ := p.pods.List(labels.SelectorFromSet(d.Spec.Selector.MatchLabels))
	var out []deploy.Replica
	for _, pod := range pods {
		id := pod.Labels[LabelReplica]
		if id != "" && !slices.ContainsFunc(out, func(r deploy.Replica) bool { return r.ID == id }) {
			out = append(out, deploy.Replica{Deployment: d.Labels[LabelDeployment], ID: id, Generation: gen, Phase: deploy.PhaseStopping})
		}
	}
	return out
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
