package kubeprovider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Endpoints is the view xds joins with the replicas' heartbeats: which
// replicas run in a pod that is Ready, and at which address. A sidecar only
// knows the address it listens on inside its pod (0.0.0.0:8000), and its
// heartbeat says nothing of the kubelet's readiness probe; the pod does. It
// re-lists after a restart like every informer, so it keeps nothing of its own.
type Endpoints struct {
	pods corelisters.PodLister
	stop chan struct{}

	mu     sync.Mutex
	last   string // the ready set as last told to watchers
	change chan struct{}
}

// WatchEndpoints starts watching the graft pods of namespace and returns once
// the first listing is in. Stop it with Close.
func WatchEndpoints(ctx context.Context, client kubernetes.Interface, namespace string) (*Endpoints, error) {
	if client == nil || namespace == "" {
		return nil, errors.New("kubernetes endpoints: need a client and a namespace")
	}
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelManagedBy + "=" + managedBy }))
	inf := f.Core().V1().Pods()
	e := &Endpoints{pods: inf.Lister(), stop: make(chan struct{}), change: make(chan struct{})}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { e.notify() },
		UpdateFunc: func(any, any) { e.notify() },
		DeleteFunc: func(any) { e.notify() },
	}
	if _, err := inf.Informer().AddEventHandler(h); err != nil {
		return nil, err
	}
	f.Start(e.stop)
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			close(e.stop)
			return nil, fmt.Errorf("kubernetes endpoints: listing %v: %w", typ, ctx.Err())
		}
	}
	return e, nil
}

// Close stops the watch.
func (e *Endpoints) Close() { close(e.stop) }

// Addr is the address of the Ready pod bound to replica id of deployment:
// its pod IP and the container's http port. A pod going away (deleted,
// draining its streams) is not Ready for new requests, whatever its
// condition still says.
func (e *Endpoints) Addr(deployment, id string) (string, bool) {
	pods, err := e.pods.List(labels.SelectorFromSet(labels.Set{LabelDeployment: deployment, LabelReplica: id}))
	if err != nil {
		return "", false
	}
	for _, pod := range pods {
		if addr, ok := endpoint(pod); ok {
			return addr, true
		}
	}
	return "", false
}

// Changed returns a channel closed at the next change of the ready set. Call
// it again after each close, before reading Addr, so no change is missed.
func (e *Endpoints) Changed() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.change
}

// notify closes the change channel when the ready set moved; pods change
// for many reasons (labels, annotations, restarts) that do not concern xds.
func (e *Endpoints) notify() {
	pods, _ := e.pods.List(labels.Everything())
	var set []string
	for _, pod := range pods {
		if addr, ok := endpoint(pod); ok {
			set = append(set, pod.Labels[LabelDeployment]+"/"+pod.Labels[LabelReplica]+"="+addr)
		}
	}
	slices.Sort(set)
	now := strings.Join(set, " ")
	e.mu.Lock()
	defer e.mu.Unlock()
	if now != e.last {
		e.last = now
		close(e.change)
		e.change = make(chan struct{})
	}
}

// endpoint is where a pod takes requests, when it may.
func endpoint(pod *corev1.Pod) (string, bool) {
	if pod.DeletionTimestamp != nil || !isReady(pod) || pod.Status.PodIP == "" || pod.Labels[LabelReplica] == "" {
		return "", false
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == "http" {
				return net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(p.ContainerPort))), true
			}
		}
	}
	return "", false
}
