package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/control"
	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/gateway"
	"github.com/graft-ai/graft/internal/jaeger"
)

func init() { register(newUpCommand) }

type upOptions struct {
	control                  controlOptions
	model, adapterRoot, name string
	listen, stateDir         string
	certFile, keyFile        string
	threads                  int
	device                   string
	minReplicas, maxReplicas int
	cooldown                 time.Duration
	trace                    traceOptions
	gatewayModule            string
}

// newUpCommand runs everything on this machine that exists as a part: Redis,
// the control process and one deployment served on --listen.
func newUpCommand() *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "up [--model PATH] [--adapter-root DIR]",
		Short: "Run Graft on this machine: Redis, the control process, the front door and a deployment",
		Long: `Run the whole platform on this machine: a persistent redis-server (append-only
file under --state-dir; --redis uses yours instead), the control process with
the management API on --api-listen, one deployment whose replicas are "graft
serve" children, and the front door on --listen: a real Envoy over HTTPS,
programmed by Graft's xDS control plane, with the gateway checking API keys,
routing each request to the replicas that hold its adapter and waking
deployments that scaled to zero. Without --cert/--key a CA and a server
certificate are made on first start under the state dir.

Without --model it deploys the demo: the stories260K Hugging Face model and its
four LoRA adapters from $GRAFT_TESTDATA (default ../shared/models beside the
repository), as deployment "stories". When everything is ready it writes
STATE_DIR/up.json (url, api_key, ca_file, admin_api_url, console_url,
jaeger_url, ...) and prints a curl and an OpenAI SDK example that work as
printed, the web console's URL and Jaeger's query API, then serves until
interrupted.
A second run on the same state dir keeps the deployments and the key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.demoDefaults(); err != nil {
				return err
			}
			return runUp(cmd.Context(), cmd.OutOrStdout(), &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.model, "model", "", "model: a .gguf file or a Hugging Face directory (default: the stories260K demo)")
	f.StringVar(&o.adapterRoot, "adapter-root", "", "folder of PEFT adapters, each addressed by its folder name")
	f.StringVar(&o.name, "deployment", "", "the deployment's name (default: from the model's file or folder name)")
	f.StringVar(&o.listen, "listen", "127.0.0.1:8443", "HTTPS address of the front door (the OpenAI API of every deployment)")
	f.StringVar(&o.certFile, "cert", "", "PEM certificate chain of the front door (default: made under the state dir)")
	f.StringVar(&o.keyFile, "key", "", "PEM private key of --cert")
	f.StringVar(&o.stateDir, "state-dir", defaultStateDir(), "where Redis keeps its data and up.json is written")
	f.StringVar(&o.control.redis, "redis", "", "use this Redis (redis://host:port/db) instead of starting one")
	f.IntVar(&o.threads, "threads", 0, "CPU threads per replica (0: all cores)")
	f.StringVar(&o.device, "device", "", deviceFlagHelp)
	f.IntVar(&o.minReplicas, "min-replicas", 1, "fewest replicas (0 lets the deployment scale to zero)")
	f.IntVar(&o.maxReplicas, "max-replicas", 1, "most replicas")
	f.DurationVar(&o.cooldown, "cooldown", time.Hour, "how long the load must stay low before a replica is removed")
	f.StringVar(&o.gatewayModule, "gateway-module", "", "have Envoy load the gateway as this dynamic module (make gateway-module builds it) instead of calling it over ext_proc")
	addControlFlags(cmd, &o.control, "127.0.0.1:8080")
	addTraceFlags(cmd, &o.trace)
	return cmd
}

func defaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "graft")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "graft")
	}
	return filepath.Join(os.TempDir(), "graft-state")
}

// demoDefaults fills in the stories260K demo when no model was named.
func (o *upOptions) demoDefaults() error {
	if o.model == "" {
		dir := demoModelsDir()
		demo := filepath.Join(dir, "stories260K", "hf")
		if _, err := os.Stat(demo); dir == "" || err != nil {
			return usageError("no --model given and the demo model is not at $GRAFT_TESTDATA/stories260K/hf;\n" +
				"  point Graft at a model: graft up --model PATH (a .gguf file or a Hugging Face directory)\n" +
				"  or: make up MODEL=PATH")
		}
		o.model = demo
		if o.adapterRoot == "" {
			o.adapterRoot = filepath.Join(dir, "stories260K", "adapters")
		}
		if o.name == "" {
			o.name = "stories"
		}
	}
	if o.name == "" {
		o.name = nameFromModel(o.model)
	}
	return nil
}

var notLabel = regexp.MustCompile(`[^a-z0-9-]+`)

// nameFromModel turns a model's file or folder name into a DNS label.
func nameFromModel(model string) string {
	base := strings.TrimSuffix(strings.ToLower(filepath.Base(filepath.Clean(model))), ".gguf")
	name := strings.Trim(notLabel.ReplaceAllString(base, "-"), "-")
	if len(name) > 63 {
		name = strings.Trim(name[:63], "-")
	}
	if deploy.CheckName(name) != nil {
		return "default"
	}
	return name
}

// spec is the deployment's spec from the flags, as JSON fields.
func (o *upOptions) spec() map[string]any {
	f := map[string]any{"base_model": localPath(o.model), "min_replicas": o.minReplicas, "max_replicas": o.maxReplicas,
		"cooldown": o.cooldown.String(), "threads": o.threads, "device": o.device}
	if o.adapterRoot != "" {
		f["adapter_sources"] = []string{localPath(o.adapterRoot)}
	}
	return f
}

func runUp(ctx context.Context, out io.Writer, o *upOptions) error {
	body, _ := json.Marshal(o.spec())
	spec, err := deploy.DecodeSpec(body)
	if err != nil {
		return usageError("%v", err)
	}
	if (o.certFile == "") != (o.keyFile == "") {
		return usageError("--cert and --key go together")
	}
	cfg := o.control.config()
	cfg.FineTune = o.control.fineTuneDir(o.stateDir)
	if cfg.Redis == "" {
		r, err := control.StartRedis(ctx, filepath.Join(o.stateDir, "redis"))
		if err != nil {
			return err
		}
		defer r.Stop()
		cfg.Redis = r.URL
	}
	store, err := state.Open(cfg.Redis)
	if err != nil {
		return err
	}
	defer store.Close()
	jg := upJaeger(o)
	if jg != nil {
		defer jg.Stop()
	}
	// The replicas are graft serve children: they trace like this process.
	cfg.Env = append(cfg.Env, o.trace.replicaEnv()...)
	if jg != nil {
		cfg.JaegerURL = jg.QueryURL
	}
	ctl, err := control.Start(ctx, cfg)
	if err != nil {
		return err
	}
	if err := ensureDeployment(ctx, ctl.Manager, o.name, spec, body); err != nil {
		return errors.Join(err, ctl.Wait())
	}
	key, err := upKey(ctx, store, o.stateDir)
	if err != nil {
		return errors.Join(err, ctl.Wait())
	}
	gwTracer, stopTracing := o.trace.start(ctx, "graft-gateway")
	defer stopTracing()
	front, err := gateway.StartFront(ctx, gateway.FrontConfig{Listen: o.listen, Dir: filepath.Join(o.stateDir, "front"),
		CertFile: o.certFile, KeyFile: o.keyFile, ControlAPI: ctl.Addr(),
		OTLP: o.trace.collector(), TraceRatio: o.trace.ratio, GatewayModule: o.gatewayModule, RedisURL: cfg.Redis,
		Gateway: gateway.Config{Store: store, Deployments: gateway.FromRecords(ctl.Manager.Records, ctl.Manager),
			Tracer: gwTracer, Registry: ctl.Registry()}})
	if err != nil {
		return errors.Join(err, ctl.Wait())
	}
	apiURL := "http://" + ctl.Addr()
	info := map[string]string{"url": front.URL + "/v1", "api_key": key, "ca_file": front.CAFile,
		"admin_api_url": front.URL, "control_api_url": apiURL, "redis": cfg.Redis, "deployment": o.name,
		"console_url": ctl.ConsoleURL()}
	if front.GatewayMetrics != "" {
		info["gateway_metrics_url"] = front.GatewayMetrics
	}
	if client, err := frontClient(front.CAFile); err != nil {
		slog.Warn("the console's playground asks replicas directly", "err", err)
	} else {
		ctl.Console.SetFrontDoor(front.URL, client)
	}
	if jg != nil {
		info["jaeger_url"] = jg.QueryURL
	}
	if err := front.WaitServing(ctx, key, o.name); err != nil {
		front.Stop()
		return errors.Join(err, ctl.Wait())
	}
	if err := writeUpJSON(o.stateDir, info); err != nil {
		slog.Warn("up.json not written", "err", err)
	}
	printExamples(out, info, o.adapterRoot)
	fmt.Fprintf(out, "Console: %s (log in with the api_key of up.json)\n", info["console_url"])
	if jg != nil {
		fmt.Fprintf(out, "Traces: %s/api/traces?service=graft-gateway (Jaeger's query API; the console draws them)\n", jg.QueryURL)
	}
	<-ctx.Done()
	front.Stop()
	return ctl.Wait()
}

// frontClient trusts the front door's CA, for the console's playground.
func frontClient(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}, nil
}

// upKey returns the admin key of an earlier run on this state dir if Redis
// still knows it, or makes one.
func upKey(ctx context.Context, store *state.Store, stateDir string) (string, error) {
	var prev struct {
		APIKey string `json:"api_key"`
	}
	if b, err := os.ReadFile(filepath.Join(stateDir, "up.json")); err == nil && json.Unmarshal(b, &prev) == nil && prev.APIKey != "" {
		if _, err := store.LookupAPIKey(ctx, state.HashAPIKey(prev.APIKey)); err == nil {
			return prev.APIKey, nil
		}
	}
	key, rec := gateway.NewAPIKey("default", "graft up", true)
	return key, store.PutAPIKey(ctx, rec)
}

// ensureDeployment creates the deployment, or brings an existing one (from
// an earlier run, kept in Redis) to this spec.
func ensureDeployment(ctx context.Context, m *deploy.Manager, name string, spec deploy.Spec, body []byte) error {
	_, err := m.Create(ctx, name, spec)
	if !errors.Is(err, deploy.ErrExists) {
		return err
	}
	cur, err := m.Get(ctx, name)
	if err != nil {
		return err
	}
	if cur.Status == deploy.Stopped || cur.Status == deploy.Errored {
		if _, err := m.Start(ctx, name); err != nil {
			return err
		}
	}
	if cur.Spec.NeedsNewReplicas(spec) || cur.Spec.MinReplicas != spec.MinReplicas || cur.Spec.MaxReplicas != spec.MaxReplicas ||
		cur.Spec.Cooldown != spec.Cooldown {
		_, err = m.Update(ctx, name, body)
	}
	return err
}

// upJaeger starts Jaeger for the platform's traces when it is built and no
// collector was named, and points the tracing flags at it; nil otherwise.
func upJaeger(o *upOptions) *jaeger.Jaeger {
	if o.trace.collector() != "" {
		return nil
	}
	bin, err := jaeger.Binary()
	if err != nil {
		slog.Info("tracing off", "why", err)
		return nil
	}
	dir := filepath.Join(o.stateDir, "jaeger")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		slog.Warn("jaeger not started; tracing off", "err", err)
		return nil
	}
	j, err := jaeger.Start(bin, dir)
	if err != nil {
		slog.Warn("jaeger not started; tracing off", "err", err)
		return nil
	}
	o.trace.endpoint = j.OTLP
	return j
}

func writeUpJSON(dir string, v map[string]string) error {
	b, _ := json.MarshalIndent(v, "", "  ")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "up.json"), append(b, '\n'), 0o600)
}

func printExamples(w io.Writer, info map[string]string, adapterRoot string) {
	model := info["deployment"]
	adapter := model
	if adapterRoot != "" {
		if entries, err := os.ReadDir(adapterRoot); err == nil && len(entries) > 0 {
			adapter = model + "/" + entries[0].Name()
		}
	}
	fmt.Fprintf(w, `Graft is serving deployment %[2]q on %[1]s (details in up.json).

Try it:

  curl -s --cacert %[3]s %[1]s/models -H 'Authorization: Bearer %[4]s'

  curl -s --cacert %[3]s %[1]s/chat/completions -H 'Authorization: Bearer %[4]s' -H 'Content-Type: application/json' \
    -d '{"model": %[5]q, "messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": 48}'

  # OpenAI SDK (npm install openai; NODE_EXTRA_CA_CERTS=%[3]s node --input-type=module):
  import OpenAI from 'openai';
  const client = new OpenAI({ baseURL: '%[1]s', apiKey: '%[4]s' });
  const r = await client.completions.create({ model: %[5]q, prompt: 'Once upon a time', max_tokens: 48 });
  console.log(r.choices[0].text);

  # The deployment, through the management API:
  graft deployments get %[2]s --api-url %[6]s
  graft deployments events %[2]s --api-url %[6]s

`, info["url"], model, info["ca_file"], info["api_key"], adapter, info["control_api_url"])
}
