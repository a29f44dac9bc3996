package kubeprovider

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/graft-ai/graft/deploy"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
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
	listed := func(d *appsv1.Deployment) bool {
		return d != nil && slices.Contains(ids(d.Annotations[annReplicas]), rs.ID)
	}
	// The loop deletes a Deployment whose last replica stopped; one deleted
	// between the Create that found it and the edit is created again.
	for {
		if _, err := dc.Create(ctx, obj, metav1.CreateOptions{}); err == nil {
			if err := p.await(ctx, obj.Name, listed); err != nil {
				return err
			}
			return p.ensurePool(ctx, rs.Deployment)
		} else if !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create deployment %s: %w", obj.Name, err)
		}
		err = p.edit(ctx, obj.Name, func(d *appsv1.Deployment, replicas, stopping []string) ([]string, []string, error) {
			if d.DeletionTimestamp != nil {
				return nil, nil, fmt.Errorf("replica %s/%s: %w", rs.Deployment, rs.ID, errDeleting)
			}
			if slices.Contains(replicas, rs.ID) || slices.Contains(stopping, rs.ID) {
				return nil, nil, fmt.Errorf("replica %s/%s already exists", rs.Deployment, rs.ID)
			}
			replicas = append(replicas, rs.ID)
			return replicas, stopping, nil
		})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		// An id was added, so the loop's delete (on the version without it)
		// cannot have happened since.
		if err := p.scale(ctx, obj.Name); err != nil {
			return err
		}
		if err := p.await(ctx, obj.Name, listed); err != nil {
			return err
		}
		return p.ensurePool(ctx, rs.Deployment)
	}
}

// await returns once the watch cache shows a write of this provider, so List
// right after Start or Stop reflects it as the controller expects (it would
// otherwise start the same replica again).
func (p *Provider) await(ctx context.Context, name string, seen func(*appsv1.Deployment) bool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		// seen gets nil when the cache has no such Deployment (not yet, or no more).
		d, err := p.deps.Deployments(p.cfg.Namespace).Get(name)
		if apierrors.IsNotFound(err) {
			d, err = nil, nil
		}
		if err == nil && seen(d) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("deployment %s: the watch did not show the change: %w", name, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
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
		if d.DeletionTimestamp != nil {
			return nil // its pods are deleted already and drain
		}
		pod := p.bound(d)[id]
		pods := p.cfg.Client.CoreV1().Pods(p.cfg.Namespace)
		if pod != nil {
			patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"-1000"}}}`, annDeletionCost)
			if _, err := pods.Patch(ctx, pod.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("mark pod %s: %w", pod.Name, err)
			}
		}
		err := p.edit(ctx, d.Name, func(_ *appsv1.Deployment, replicas, stopping []string) ([]string, []string, error) {
			replicas = slices.DeleteFunc(replicas, func(s string) bool { return s == id })
			if pod != nil && !slices.Contains(stopping, id) {
				stopping = append(stopping, id)
			}
			return replicas, stopping, nil
		})
		if apierrors.IsNotFound(err) {
			return nil // gone with its replicas, this one among them
		}
		if err != nil {
			return err
		}
		// With its last replica stopped the loop may delete the Deployment
		// at any moment, which is what scaling it down would lead to.
		if err := p.scale(ctx, d.Name); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if pod != nil {
			if err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete pod %s: %w", pod.Name, err)
			}
		}
		p.kick()
		return p.await(ctx, d.Name, func(d *appsv1.Deployment) bool {
			return d == nil || !slices.Contains(ids(d.Annotations[annReplicas]), id)
		})
	}
	return nil
}

// edit rewrites a Deployment's replica and stopping lists, retrying on
// conflict with whoever else wrote it.
func (p *Provider) edit(ctx context.Context, name string, f func(d *appsv1.Deployment, replicas, stopping []string) ([]string, []string, error)) error {
	dc := p.cfg.Client.AppsV1().Deployments(p.cfg.Namespace)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := dc.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		replicas, stopping, err := f(d, ids(d.Annotations[annReplicas]), ids(d.Annotations[annStopping]))
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
// autoscaler would, to the number of replica ids it holds. Both are read
// together and the scale is written on that version, so a concurrent Start
// or Stop, or a stale watch cache, cannot leave them apart.
func (p *Provider) scale(ctx context.Context, name string) error {
	dc := p.cfg.Client.AppsV1().Deployments(p.cfg.Namespace)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := dc.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n := int32(len(ids(d.Annotations[annReplicas])))
		if d.Spec.Replicas != nil && *d.Spec.Replicas == n {
			return nil
		}
		s := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: p.cfg.Namespace,
			ResourceVersion: d.ResourceVersion}, Spec: autoscalingv1.ScaleSpec{Replicas: n}}
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
		tidy := p.tidyOne
		if d.DeletionTimestamp != nil {
			tidy = p.release
		}
		if err := tidy(ctx, d); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			p.cfg.Log.Warn("kubernetes provider: tidying a deployment failed; retrying", "deployment", d.Name, "err", err)
		}
	}
	if err := p.tidyPools(ctx); err != nil {
		p.cfg.Log.Warn("kubernetes provider: tidying inference pools failed; retrying", "err", err)
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
		return p.scale(ctx, d.Name)
	}
	return nil
}

// bind labels each new pod, oldest first, with a replica id that has none.
// The watch cache may not show a label written a moment ago, so the pods are
// read from the API server, and each label is written only on the version
// read: an id is never bound to two pods.
func (p *Provider) bind(ctx context.Context, d *appsv1.Deployment, replicas []string) error {
	if len(p.bound(d)) == len(replicas) {
		return nil
	}
	pods := p.cfg.Client.CoreV1().Pods(p.cfg.Namespace)
	l, err := pods.List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(d.Spec.Selector.MatchLabels).String()})
	if err != nil {
		return err
	}
	live := slices.DeleteFunc(l.Items, func(pod corev1.Pod) bool { return pod.DeletionTimestamp != nil })
	slices.SortFunc(live, func(a, b corev1.Pod) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Name, b.Name))
	})
	waiting := slices.DeleteFunc(slices.Clone(replicas), func(id string) bool {
		return slices.ContainsFunc(live, func(pod corev1.Pod) bool { return pod.Labels[LabelReplica] == id })
	})
	for _, pod := range live {
		if len(waiting) == 0 {
			return nil
		}
		if pod.Labels[LabelReplica] != "" {
			continue
		}
		patch := fmt.Sprintf(`{"metadata":{"resourceVersion":%q,"labels":{%q:%q}}}`, pod.ResourceVersion, LabelReplica, waiting[0])
		if _, err := pods.Patch(ctx, pod.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("label pod %s: %w", pod.Name, err)
		}
		waiting = waiting[1:]
	}
	return nil
}
