package main

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/deploy/control"
)

func init() { register(newControlCommand) }

// kubeFineTuneDir is where the fine-tuning claim is mounted by default.
const kubeFineTuneDir = "/var/lib/graft/finetune"

// controlOptions are the flags of the control process, shared by graft up.
type controlOptions struct {
	redis, listen, apiKey, adapterCache string
	fineTune                            string
	fineTuneSlots                       int
	jaegerURL                           string
	readyTimeout, unhealthy, drain      time.Duration
	provider                            string
	kube                                control.Kubernetes
}

func addControlFlags(cmd *cobra.Command, o *controlOptions, listen string) {
	f := cmd.Flags()
	f.StringVar(&o.listen, "api-listen", listen, "address of the management API (/v1/deployments)")
	f.StringVar(&o.apiKey, "api-key", "", "require this key (Authorization: Bearer KEY) on the management API")
	f.StringVar(&o.jaegerURL, "jaeger-url", "", "Jaeger's query API (http://host:16686) the web console (/console) draws traces from (graft up: the Jaeger it starts)")
	f.StringVar(&o.adapterCache, "adapter-cache", "", "adapter cache folder the replicas share (default: the user cache dir)")
	f.DurationVar(&o.readyTimeout, "replica-ready-timeout", 5*time.Minute, "a replica not ready this long after its start fails the deployment (Errored) with its own error")
	f.DurationVar(&o.unhealthy, "replica-unhealthy-timeout", 30*time.Second, "a live replica whose /readyz fails this long is killed and replaced")
	f.DurationVar(&o.drain, "replica-drain-timeout", 5*time.Minute, "how long a stopping replica's running streams may take to finish")
	f.StringVar(&o.fineTune, "finetune-dir", "", `folder of the files and fine-tuning API (/v1/files, /v1/fine_tuning/jobs): uploads, job work folders and the adapters jobs publish; "off" turns the API off (default: finetune under the state dir; with --provider kubernetes, off unless --finetune-claim)`)
	f.IntVar(&o.fineTuneSlots, "finetune-slots", 1, "fine-tuning jobs trained at once on this machine")
}

func (o *controlOptions) config() control.Config {
	return control.Config{Redis: o.redis, Listen: o.listen, APIKey: o.apiKey, AdapterCache: o.adapterCache,
		ReadyTimeout: o.readyTimeout, Unhealthy: o.unhealthy, Drain: o.drain, Provider: o.provider, Kubernetes: o.kube,
		FineTune: o.fineTuneDir(defaultStateDir()), FineTuneSlots: o.fineTuneSlots, JaegerURL: o.jaegerURL}
}

// fineTuneDir is the fine-tuning folder the flag names, by default one
// under stateDir; "" when turned off.
func (o *controlOptions) fineTuneDir(stateDir string) string {
	switch o.fineTune {
	case "off":
		return ""
	case "":
		return filepath.Join(stateDir, "finetune")
	}
	return o.fineTune
}

// addProviderFlags are the flags that choose where replicas run; graft up
// always runs them locally, so only graft control has them.
func addProviderFlags(cmd *cobra.Command, o *controlOptions) {
	f := cmd.Flags()
	f.StringVar(&o.provider, "provider", control.ProviderLocal, "where replicas run: local (child processes) or kubernetes (pods)")
	f.StringVar(&o.kube.Namespace, "namespace", "", "kubernetes: the namespace of the replicas' Deployments and pods (default: the control process's own namespace in a cluster)")
	f.StringVar(&o.kube.Image, "image", "", "kubernetes: the graft image the replica pods run (required with --provider kubernetes)")
	f.StringVar(&o.kube.Kubeconfig, "kubeconfig", "", "kubernetes: a kubeconfig file (default: $KUBECONFIG, else the in-cluster service account)")
	f.StringVar(&o.kube.Owner, "owner", "", "kubernetes: a Deployment in --namespace (the control plane's own) that owns the replicas' Deployments, so deleting it deletes them")
	f.StringVar(&o.kube.InferencePoolPicker, "inference-pool-picker", "", "kubernetes: expose each deployment as a Gateway API Inference Extension InferencePool whose Endpoint Picker is SERVICE:PORT (install deploy/kubernetes/crds first)")
	f.StringVar(&o.kube.FineTuneClaim, "finetune-claim", "", "kubernetes: a ReadWriteMany PersistentVolumeClaim mounted at --finetune-dir (default "+kubeFineTuneDir+") in this process: turns the fine-tuning API on, jobs train as Kubernetes Jobs on it and replica pods mount it read-only to serve the adapters")
	f.StringVar(&o.kube.HubTokenSecret, "hub-token-secret", "", "kubernetes: a Secret whose key HF_TOKEN the pods read the Hugging Face token from, so it is never written into a pod spec (default: this process's $HF_TOKEN is copied into the specs)")
	f.DurationVar(&o.kube.FailAfter, "pod-fail-after", 5*time.Minute, "kubernetes: a pod crash-looping, failing to pull or unschedulable this long fails its replica (Errored with the Kubernetes reason)")
}

// resolveKube fills the kubernetes defaults the environment gives.
func (o *controlOptions) resolveKube() {
	if o.kube.Kubeconfig == "" {
		o.kube.Kubeconfig = os.Getenv("KUBECONFIG")
	}
	if o.kube.Namespace == "" {
		// The service account's namespace, mounted in every pod.
		if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
			o.kube.Namespace = strings.TrimSpace(string(b))
		}
	}
}

func newControlCommand() *cobra.Command {
	var o controlOptions
	cmd := &cobra.Command{
		Use:   "control --redis URL [--api-listen HOST:PORT] [--provider local|kubernetes]",
		Short: "Run the control process: deployment controllers, their replicas and the management API",
		Long: `Run the control process. It keeps every deployment in Redis at its status:
one controller per deployment starts and stops its replicas (each a "graft serve"
child process on its own 127.0.0.1 port), replaces replicas that crash, scales
between min_replicas and max_replicas on the load the replicas report, scales
to zero after the cooldown and wakes on request. The management API
(/v1/deployments, driven by "graft deployments") listens on --api-listen, with
/healthz, /readyz and Prometheus /metrics beside it, and the web console on
/console (log in with the --api-key, or an admin key of "graft keys"). On SIGTERM the replicas
drain their streams and stop.

The same listener serves OpenAI's files and fine-tuning API (/v1/files,
/v1/fine_tuning/jobs) with its files under --finetune-dir: jobs train one at
a time (--finetune-slots) as "graft train" children, and a finished job's
adapter is served at once by the deployment's replicas as
DEPLOYMENT/ft/TENANT/NAME. A job running when the control process stops
resumes from its checkpoint on the next start.

With --provider kubernetes the replicas are pods instead: each replica
generation is a Kubernetes Deployment in --namespace running --image, scaled
through its scale subresource; a replica is live when its pod is Ready, and a
pod stuck in CrashLoopBackOff, ImagePullBackOff or Unschedulable past
--pod-fail-after fails the deployment with that reason. In a cluster the
control process uses its service account; elsewhere --kubeconfig. The
fine-tuning API is off there unless --finetune-claim names a ReadWriteMany
claim mounted at --finetune-dir: jobs then train as Kubernetes Jobs running
--image on that claim, and replica pods mount it read-only to serve the
adapters jobs publish.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.provider == control.ProviderKubernetes {
				o.resolveKube()
				switch {
				case o.fineTune == "" && o.kube.FineTuneClaim != "":
					o.fineTune = kubeFineTuneDir
				case o.fineTune == "":
					// Without the claim replica pods do not see this
					// process's disk, so they could not serve what
					// its jobs train.
					o.fineTune = "off"
				}
			}
			return control.Run(cmd.Context(), o.config())
		},
	}
	addControlFlags(cmd, &o, "127.0.0.1:8080")
	addProviderFlags(cmd, &o)
	cmd.Flags().StringVar(&o.redis, "redis", "", "Redis URL (redis://host:port/db) holding the deployments; run it with appendonly yes (required)")
	_ = cmd.MarkFlagRequired("redis")
	return cmd
}
