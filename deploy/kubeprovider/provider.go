// Package kubeprovider runs a deployment's replicas as pods in a Kubernetes
// cluster. Each replica generation is a Kubernetes Deployment whose replica
// count moves through the scale subresource; the replica ids graft's
// controller asked for are kept in that Deployment's annotations and bound to
// pods by a label, so everything the provider knows can be listed again after
// it restarts. Pods report their phase through their Ready condition and the
// kubelet's waiting reasons.
package kubeprovider

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/state"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Config says where and how replicas run.
type Config struct {
	Client    kubernetes.Interface
	Namespace string
	// Image is the graft image the pods run.
	Image string
	// Redis is the URL the replicas publish their heartbeats to.
	Redis string
	// Port is the pods' OpenAI API port; default 8000.
	Port int32
	// Memory is each pod's memory request; default 2Gi.
	Memory resource.Quantity
	// FailAfter is how long a pod may crash-loop, fail to pull its image or
	// stay unschedulable before its replica is failed; default 5m.
	FailAfter time.Duration
	// Drain is how long a stopping pod may finish its streams; default 5m.
	Drain time.Duration
	// Owner, when set, owns every Deployment (the control plane's own
	// object), so deleting it leaves nothing behind.
	Owner *metav1.OwnerReference
	// InferencePool, when set, exposes each deployment as an InferencePool.
	InferencePool *InferencePool
	// FineTune, when set, is the claim of the fine-tuning folder: replica
	// pods mount it to serve fine-tuned adapters, and Trainers runs jobs on it.
	FineTune *FineTune
	// HubEnv goes to every pod that fetches from the Hugging Face Hub
	// (replicas: hf:// base models and adapters; training Jobs: hf:// base
	// models), e.g. HubEnvFromEnvironment.
	HubEnv []corev1.EnvVar
	Log    *slog.Logger
}

// Provider is the Kubernetes provider. Stop its watches with Close.
type Provider struct {
	cfg    Config
	deps   appslisters.DeploymentLister
	pods   corelisters.PodLister
	stop   chan struct{}
	kicks  chan struct{}
	done   sync.WaitGroup
	mu     sync.Mutex
	last   map[string]string // deployment -> its replicas as last told to watchers
	change chan struct{}
}

var _ deploy.Provider = (*Provider)(nil)

// New starts watching the namespace's graft objects and returns once the
// first listing is in.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if cfg.Client == nil || cfg.Namespace == "" || cfg.Image == "" {
		return nil, errors.New("kubernetes provider: needs a client, a namespace and an image")
	}
	if cfg.Port == 0 {
		cfg.Port = 8000
	}
	if cfg.Memory.IsZero() {
		cfg.Memory = resource.MustParse("2Gi")
	}
	if cfg.FailAfter <= 0 {
		cfg.FailAfter = 5 * time.Minute
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 5 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	f := informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, informers.WithNamespace(cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelManagedBy + "=" + managedBy }))
	p := &Provider{cfg: cfg, deps: f.Apps().V1().Deployments().Lister(), pods: f.Core().V1().Pods().Lister(),
		stop: make(chan struct{}), kicks: make(chan struct{}, 1), last: map[string]string{}, change: make(chan struct{})}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.kick() },
		UpdateFunc: func(any, any) { p.kick() },
		DeleteFunc: func(any) { p.kick() },
	}
	for _, inf := range []cache.SharedIndexInformer{f.Apps().V1().Deployments().Informer(), f.Core().V1().Pods().Informer()} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return nil, err
		}
	}
	f.Start(p.stop)
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			close(p.stop)
			return nil, fmt.Errorf("kubernetes provider: listing %v: %w", typ, ctx.Err())
		}
	}
	p.done.Add(1)
	go p.loop()
	return p, nil
}

// Close stops watching; the replicas keep running (they are the cluster's).
func (p *Provider) Close() {
	close(p.stop)
	p.done.Wait()
}

func (p *Provider) kick() {
	select {
	case p.kicks <- struct{}{}:
	default:
	}
}

// loop binds new pods to replica ids, forgets stopped replicas whose pods are
// gone, and tells watchers when a listing changes. The tick notices failure
// deadlines passing, which no event announces.
func (p *Provider) loop() {
	defer p.done.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-p.kicks:
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		p.tidy(ctx)
		cancel()
		p.notify()
	}
}

// Watch returns a channel closed at the next change of any listing.
func (p *Provider) Watch() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.change
}

func (p *Provider) notify() {
	objs, _ := p.deps.List(labels.Everything())
	now := map[string]string{}
	for _, d := range objs {
		name := d.Labels[LabelDeployment]
		if _, ok := now[name]; !ok {
			now[name] = fmt.Sprint(p.List(name))
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	changed := len(now) != len(p.last)
	for k, v := range now {
		if p.last[k] != v {
			changed = true
		}
	}
	if changed {
		p.last = now
		close(p.change)
		p.change = make(chan struct{})
	}
}

// List returns the deployment's replicas, sorted by id, from the watch caches.
func (p *Provider) List(deployment string) []deploy.Replica {
	objs, err := p.deps.List(labels.SelectorFromSet(labels.Set{LabelDeployment: deployment}))
	if err != nil {
		return nil
	}
	now := time.Now()
	var out []deploy.Replica
	for _, d := range objs {
		gen, _ := strconv.ParseInt(d.Labels[LabelGeneration], 10, 64)
		if d.DeletionTimestamp != nil {
			out = append(out, p.draining(d, gen)...)
			continue
		}
		bound := p.bound(d)
		for _, id := range ids(d.Annotations[annReplicas]) {
			r := deploy.Replica{Deployment: deployment, ID: id, Generation: gen, Phase: deploy.PhaseStarting,
				Started: d.CreationTimestamp.Time}
			if pod := bound[id]; pod != nil {
				r.Started = pod.CreationTimestamp.Time
				r.Phase, r.Reason, r.Addr = p.podPhase(pod, now)
			}
			out = append(out, r)
		}
		for _, id := range ids(d.Annotations[annStopping]) {
			out = append(out, deploy.Replica{Deployment: deployment, ID: id, Generation: gen, Phase: deploy.PhaseStopping})
		}
	}
	slices.SortFunc(out, func(a, b deploy.Replica) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// pods are a Deployment's pods that are not going away, oldest first.
func (p *Provider) podsOf(d *appsv1.Deployment) []*corev1.Pod {
	pods, _ := p.pods.List(labels.SelectorFromSet(d.Spec.Selector.MatchLabels))
	pods = slices.DeleteFunc(pods, func(pod *corev1.Pod) bool { return pod.DeletionTimestamp != nil })
	slices.SortFunc(pods, func(a, b *corev1.Pod) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Name, b.Name))
	})
	return pods
}

// bound maps replica ids to their live pods.
func (p *Provider) bound(d *appsv1.Deployment) map[string]*corev1.Pod {
	out := map[string]*corev1.Pod{}
	for _, pod := range p.podsOf(d) {
		if id := pod.Labels[LabelReplica]; id != "" && out[id] == nil {
			out[id] = pod
		}
	}
	return out
}

func checkID(id string) error {
	if err := state.CheckName(id); err != nil {
		return fmt.Errorf("replica id %w", err)
	}
	return nil
}
