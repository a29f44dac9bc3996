package kubeprovider

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// InferencePool exposes each deployment as a Gateway API Inference Extension
// InferencePool (its CRD is deploy/kubernetes/crds): clusters that already
// run a GIE-conformant gateway route to graft's pods with their own Endpoint
// Picker, which reads the vLLM metric names the sidecar exports.
type InferencePool struct {
	Client dynamic.Interface
	// Picker is the Service of the cluster's Endpoint Picker and its port.
	Picker     string
	PickerPort int32
}

var poolResource = schema.GroupVersionResource{Group: "inference.networking.k8s.io", Version: "v1", Resource: "inferencepools"}

// pool is the InferencePool of one deployment: every pod of every
// generation, on the OpenAI API port.
func (p *Provider) pool(deployment string) *unstructured.Unstructured {
	sel := map[string]any{LabelManagedBy: managedBy, LabelDeployment: deployment}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool",
		"metadata": map[string]any{"name": deployment, "namespace": p.cfg.Namespace,
			"labels": map[string]any{LabelManagedBy: managedBy, LabelDeployment: deployment}},
		"spec": map[string]any{
			"selector":    map[string]any{"matchLabels": sel},
			"targetPorts": []any{map[string]any{"number": int64(p.cfg.Port)}},
			"endpointPickerRef": map[string]any{"name": p.cfg.InferencePool.Picker,
				"port": map[string]any{"number": int64(p.cfg.InferencePool.PickerPort)}},
		},
	}}
	if o := p.cfg.Owner; o != nil {
		u.SetOwnerReferences([]metav1.OwnerReference{*o})
	}
	return u
}

// ensurePool makes the deployment's InferencePool unless it exists. Start
// calls it once its Deployment is in the watch cache, so tidy, which deletes
// the pools of deployments without a Deployment, never races it.
func (p *Provider) ensurePool(ctx context.Context, deployment string) error {
	if p.cfg.InferencePool == nil {
		return nil
	}
	pools := p.cfg.InferencePool.Client.Resource(poolResource).Namespace(p.cfg.Namespace)
	_, err := pools.Create(ctx, p.pool(deployment), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("inference pool %s: %w", deployment, err)
	}
	return nil
}

// tidyPools deletes the pools of deployments that have no Deployment left
// (deleted, or scaled to zero: a pool of no pods routes nowhere).
func (p *Provider) tidyPools(ctx context.Context) error {
	if p.cfg.InferencePool == nil {
		return nil
	}
	pools := p.cfg.InferencePool.Client.Resource(poolResource).Namespace(p.cfg.Namespace)
	l, err := pools.List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + managedBy})
	if err != nil {
		return err
	}
	for _, u := range l.Items {
		deps, err := p.deps.List(labels.SelectorFromSet(labels.Set{LabelDeployment: u.GetName()}))
		if err != nil || len(deps) > 0 {
			continue
		}
		rv := u.GetResourceVersion()
		err = pools.Delete(ctx, u.GetName(), metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
		if ignoreNotFound(err) != nil && !apierrors.IsConflict(err) {
			return err
		}
	}
	return nil
}
