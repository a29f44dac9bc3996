package control

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/kubeprovider"
	"github.com/graft-ai/graft/deploy/local"
	"github.com/graft-ai/graft/deploy/state"
)

// The providers a control process can run replicas on.
const (
	ProviderLocal      = "local"
	ProviderKubernetes = "kubernetes"
)

// Kubernetes says where the kubernetes provider runs replicas.
type Kubernetes struct {
	// Namespace holds the replicas' Deployments and pods (required).
	Namespace string
	// Image is the graft image the pods run (required).
	Image string
	// Kubeconfig is a kubeconfig file; empty means the in-cluster service
	// account, as when the control process runs in the cluster itself.
	Kubeconfig string
	// FailAfter is how long a pod may be stuck before its replica fails.
	FailAfter time.Duration
	// Owner names a Deployment in Namespace (the control plane's own) that
	// owns every Deployment the provider makes, so deleting the control plane
	// leaves no replica without one; "" owns them by nothing.
	Owner string
	// InferencePoolPicker, as NAME:PORT, exposes each deployment as a Gateway
	// API Inference Extension InferencePool whose Endpoint Picker is Service
	// NAME on PORT (the InferencePool CRD must be installed); "" makes none.
	InferencePoolPicker string
	// FineTuneClaim names a ReadWriteMany PersistentVolumeClaim holding
	// Config.FineTune, which this process mounts at that same path: jobs
	// then train as Kubernetes Jobs on it and replica pods mount it
	// read-only to serve their adapters. "" leaves both off.
	FineTuneClaim string
	// HubTokenSecret names a Secret whose key HF_TOKEN replica and training
	// pods read the Hugging Face token from; "" copies this process's
	// HF_TOKEN into their specs as a value.
	HubTokenSecret string
}

// replicas is the provider as the control process drives it.
type replicas interface {
	deploy.Provider
	Close()
}

func newProvider(ctx context.Context, cfg Config, st *state.Store) (replicas, error) {
	if err := checkFineTuneClaim(cfg); err != nil {
		return nil, err
	}
	switch cfg.Provider {
	case "", ProviderLocal:
		return local.New(local.Config{Exe: cfg.Exe, Env: cfg.Env, Redis: cfg.Redis, Store: st,
			AdapterCache: cfg.AdapterCache, TunedRoot: tunedRootOf(cfg), ReadyTimeout: cfg.ReadyTimeout, Unhealthy: cfg.Unhealthy,
			HeartbeatTTL: cfg.HeartbeatTTL, Drain: cfg.Drain})
	case ProviderKubernetes:
		return newKubeProvider(ctx, cfg)
	}
	return nil, &ConfigError{Field: "Provider",
		Err: fmt.Errorf("control: unknown provider %q (want %s or %s)", cfg.Provider, ProviderLocal, ProviderKubernetes)}
}

func tunedRootOf(cfg Config) string {
	if cfg.FineTune == "" {
		return ""
	}
	return tunedRoot(cfg.FineTune)
}

func newKubeProvider(ctx context.Context, cfg Config) (replicas, error) {
	k := cfg.Kubernetes
	if k.Namespace == "" {
		return nil, &ConfigError{Field: "Kubernetes.Namespace", Err: errors.New("control: the kubernetes provider needs a namespace")}
	}
	if k.Image == "" {
		return nil, &ConfigError{Field: "Kubernetes.Image", Err: errors.New("control: the kubernetes provider needs the graft image")}
	}
	rc, err := kubeprovider.RESTConfig(k.Kubeconfig)
	if err != nil {
		return nil, &ConfigError{Field: "Kubernetes.Kubeconfig", Err: fmt.Errorf("control: %w", err)}
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, &ConfigError{Field: "Kubernetes.Kubeconfig", Err: fmt.Errorf("control: %w", err)}
	}
	pool, err := inferencePool(rc, k.InferencePoolPicker)
	if err != nil {
		return nil, &ConfigError{Field: "Kubernetes.InferencePoolPicker", Err: err}
	}
	// An unreachable API server must fail the start, not hang it.
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var owner *metav1.OwnerReference
	if k.Owner != "" {
		d, err := client.AppsV1().Deployments(k.Namespace).Get(lctx, k.Owner, metav1.GetOptions{})
		if err != nil {
			return nil, &ConfigError{Field: "Kubernetes.Owner", Err: fmt.Errorf("control: the owner Deployment: %w", err)}
		}
		owner = &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID}
	}
	var ft *kubeprovider.FineTune
	if k.FineTuneClaim != "" {
		ft = &kubeprovider.FineTune{Claim: k.FineTuneClaim, MountPath: filepath.Clean(cfg.FineTune), TunedRoot: tunedRoot(cfg.FineTune)}
	}
	return kubeprovider.New(lctx, kubeprovider.Config{Client: client, Namespace: k.Namespace, Image: k.Image,
		Redis: cfg.Redis, FailAfter: k.FailAfter, Drain: cfg.Drain, Owner: owner, InferencePool: pool, FineTune: ft,
		HubEnv: kubeprovider.HubEnvFromEnvironment(k.HubTokenSecret)})
}

// checkFineTuneClaim: the claim is the fine-tuning folder of the kubernetes
// provider's pods, so it needs both.
func checkFineTuneClaim(cfg Config) error {
	if cfg.Kubernetes.FineTuneClaim == "" {
		return nil
	}
	switch {
	case cfg.Provider != ProviderKubernetes:
		return &ConfigError{Field: "Kubernetes.FineTuneClaim", Err: errors.New("control: a fine-tuning claim needs the kubernetes provider")}
	case !filepath.IsAbs(cfg.FineTune):
		return &ConfigError{Field: "Kubernetes.FineTuneClaim",
			Err: errors.New("control: a fine-tuning claim needs the fine-tuning folder as an absolute path, where the claim is mounted")}
	}
	return nil
}

// inferencePool reads NAME:PORT; "" is no pool.
func inferencePool(rc *rest.Config, picker string) (*kubeprovider.InferencePool, error) {
	if picker == "" {
		return nil, nil
	}
	name, p, ok := strings.Cut(picker, ":")
	port, err := strconv.ParseInt(p, 10, 32)
	if !ok || name == "" || err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("control: inference pool picker %q: want SERVICE:PORT", picker)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	return &kubeprovider.InferencePool{Client: dyn, Picker: name, PickerPort: int32(port)}, nil
}
