package kubeprovider

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/graft-ai/graft/deploy"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
)

// Start adds a replica: it creates its generation's Deployment, or adds the
// id to it and scales it up by one; see deploy.Provider.
func (p *Provider) Start(ctx context.Context, rs deploy.ReplicaSpec) error {
	if err := checkID(rs.ID); err != nil {
		return err
	}
	obj, err := p.object(rs)
	if err != nil {
		return err
	}
	dc := p.cfg.Client.AppsV1().Deployments(p.cfg.Namespace)
	if _, err := dc.Create(ctx, obj, metav1.CreateOptions{}); err == nil {
		return nil
	} else if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create deployment %s: %w", obj.Name, err)
	}
	n := 0
	err = p.edit(ctx, obj.Name, func(replicas, stopping []string) ([]string, []string, error) {
		if slices.Contains(replicas, rs.ID) || slices.Contains(stopping, rs.ID) {
			return nil, nil, fmt.Errorf("replica %s/%s already exists", rs.Deployment, rs.ID)
		}
		replicas = append(replicas, rs.ID)
		n = len(replicas)
		return replicas, stopping, nil
	})
	if err != nil {
		return err
	}
	return p.scale(ctx, obj.Name, n)
}

// Stop takes a replica away: its id moves to the stopping list, its pod is
// marked the cheapest to delete, the scale goes down by one and the pod is
// deleted with its grace period to drain. It leaves List when its pod is gone.
func (p *Provider) Stop(ctx context.Context, deployment, id string) error {
	objs, err := p.deps.List(labels.SelectorFromSet(labels.Set{LabelDeployment: deployment}))
	if err != nil {
		return err
	}
	for _, d := range objs {
		if !slices.Contains(ids(d.Annotations[annReplicas]), id) {
			continue
		}
		pod := p.bound(d)[id]
		pods := p.cfg.Client.CoreV1().Pods(p.cfg.Namespace)
		if pod != nil {
			patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"-1000"}}}`, annDeletionCost)
			if _, err := pods.Patch(ctx, pod.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("mark pod %s: %w", pod.Name, err)
			}
		}
		n := 0
		err := p.edit(ctx, d.Name, func(replicas, stopping []string) ([]string, []string, error) {
			replicas = slices.DeleteFunc(replicas, func(s string) bool { return s == id })
			if pod != nil && !slices.Contains(stopping, id) {
				stopping = append(stopping, id)
			}
			n = len(replicas)
			return replicas, stopping, nil
		})
		if err != nil {
			return err
		}
		if err := p.scale(ctx, d.Name, n); err != nil {
			return err
		}
		if pod != nil {
			if err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete pod %s: %w", pod.Name, err)
			}
		}
		p.kick()
		return nil
	}
	return nil
}

// edit rewrites a Deployment's replica and stopping lists, retrying on
// conflict with whoever else wrote it.
func (p *Provider) edit(ctx context.Context, name string, f func(replicas, stopping []string) ([]string, []string, error)) error {
	dc := p.cfg.Client.AppsV1().Deployments(p.cfg.Namespace)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := dc.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		replicas, stopping, err := f(ids(d.Annotations[annReplicas]), ids(d.Annotations[annStopping]))
		if err != nil {
			return err
		}
		if d.Annotations == nil {
			d.Annotations = map[string]string{}
		}
		d.Annotations[annReplicas] = strings.Join(replicas, ",")
		d.Annotations[annStopping] = strings.Join(stopping, ",")
		_, err = dc.Update(ctx, d, metav1.UpdateOptions{})
		return err
	})
}

// scale sets the Deployment's replicas through the scale subresource, as an
// autoscaler would.
func (p *Provider) scale(ctx context.Context, name string, n int) error {
	dc := p.cfg.Client.AppsV1().Deployments(p.cfg.Namespace)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := dc.GetScale(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if s.Spec.Replicas == int32(n) {
			return nil
		}
		s.Spec.Replicas = int32(n)
		_, err = dc.UpdateScale(ctx, name, s, metav1.UpdateOptions{})
		return err
	})
}

// tidy brings each Deployment in line with its lists: stopped replicas whose
// pods are gone are forgotten, a Deployment with no replicas left is deleted,
// new pods are bound to the ids waiting for one, and the scale matches.
func (p *Provider) tidy(ctx context.Context) {
	objs, err := p.deps.List(labels.Everything())
	if err != nil {
		return
	}
	for _, d := range objs {
		if d.DeletionTimestamp != nil {
			continue
		}
		if err := p.tidyOne(ctx, d); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			p.cfg.Log.Warn("kubernetes provider: tidying a deployment failed; retrying", "deployment", d.Name, "err", err)
		}
	}
}

func (p *Provider) tidyOne(ctx context.Context, d *appsv1.Deployment) error {
	replicas, stopping := ids(d.Annotations[annReplicas]), ids(d.Annotations[annStopping])
	all, _ := p.pods.List(labels.SelectorFromSet(d.Spec.Selector.MatchLabels))
	still := slices.DeleteFunc(slices.Clone(stopping), func(id string) bool {
		return !slices.ContainsFunc(all, func(pod *corev1.Pod) bool {
			return pod.Labels[LabelReplica] == id
		})
	})
	dc := p.cfg.Client.AppsV1().Deployments(p.cfg.Namespace)
	if len(replicas) == 0 && len(still) == 0 {
		// The precondition keeps a Start that just added an id from losing it.
		rv := d.ResourceVersion
		prop := metav1.DeletePropagationBackground
		return dc.Delete(ctx, d.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}, PropagationPolicy: &prop})
	}
	if len(still) != len(stopping) {
		d = d.DeepCopy()
		d.Annotations[annStopping] = strings.Join(still, ",")
		if _, err := dc.Update(ctx, d, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	if err := p.bind(ctx, d, replicas); err != nil {
		return err
	}
	if d.Spec.Replicas == nil || int(*d.Spec.Replicas) != len(replicas) {
		return p.scale(ctx, d.Name, len(replicas))
	}
	return nil
}

// bind labels each new pod, oldest first, with a replica id that has none.
func (p *Provider) bind(ctx context.Context, d *appsv1.Deployment, replicas []string) error {
	bound := p.bound(d)
	var waiting []string
	for _, id := range replicas {
		if bound[id] == nil {
			waiting = append(waiting, id)
		}
	}
	for _, pod := range p.podsOf(d) {
		if len(waiting) == 0 {
			return nil
		}
		if pod.Labels[LabelReplica] != "" {
			continue
		}
		patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, LabelReplica, waiting[0])
		if _, err := p.cfg.Client.CoreV1().Pods(p.cfg.Namespace).Patch(ctx, pod.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("label pod %s: %w", pod.Name, err)
		}
		waiting = waiting[1:]
	}
	return nil
}
