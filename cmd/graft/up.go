package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/control"
)

func init() { register(newUpCommand) }

type upOptions struct {
	control                  controlOptions
	model, adapterRoot, name string
	listen, stateDir         string
	threads                  int
	device                   string
	minReplicas, maxReplicas int
	cooldown                 time.Duration
}

// newUpCommand runs everything on this machine that exists as a part: Redis,
// the control process and one deployment served on --listen.
func newUpCommand() *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "up [--model PATH] [--adapter-root DIR]",
		Short: "Run Graft on this machine: Redis, the control process and a deployment of a model",
		Long: `Run the whole platform on this machine: a persistent redis-server (append-only
file under --state-dir; --redis uses yours instead), the control process with
the management API on --api-listen, and one deployment whose replicas are
"graft serve" children, served on --listen. Without --model it deploys the
demo: the stories260K Hugging Face model and its four LoRA adapters from
$GRAFT_TESTDATA (default ../shared/models beside the repository), as
deployment "stories260k". It writes STATE_DIR/up.json (the addresses) and
prints a curl, an OpenAI SDK and a graft deployments example to paste, then
serves until interrupted.`,
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
	f.StringVar(&o.listen, "listen", "127.0.0.1:8000", "HTTP address serving the deployment's OpenAI API")
	f.StringVar(&o.stateDir, "state-dir", defaultStateDir(), "where Redis keeps its data and up.json is written")
	f.StringVar(&o.control.redis, "redis", "", "use this Redis (redis://host:port/db) instead of starting one")
	f.IntVar(&o.threads, "threads", 0, "CPU threads per replica (0: all cores)")
	f.StringVar(&o.device, "device", "", deviceFlagHelp)
	f.IntVar(&o.minReplicas, "min-replicas", 1, "fewest replicas (0 lets the deployment scale to zero)")
	f.IntVar(&o.maxReplicas, "max-replicas", 1, "most replicas")
	f.DurationVar(&o.cooldown, "cooldown", time.Hour, "how long the load must stay low before a replica is removed")
	addControlFlags(cmd, &o.control, "127.0.0.1:8080")
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
			o.name = "stories260k"
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
	cfg := o.control.config()
	if cfg.Redis == "" {
		r, err := control.StartRedis(ctx, filepath.Join(o.stateDir, "redis"))
		if err != nil {
			return err
		}
		defer r.Stop()
		cfg.Redis = r.URL
	}
	lis, err := net.Listen("tcp", o.listen)
	if err != nil {
		return usageError("--listen %s: %v", o.listen, err)
	}
	ctl, err := control.Start(ctx, cfg)
	if err != nil {
		lis.Close()
		return err
	}
	if err := ensureDeployment(ctx, ctl.Manager, o.name, spec, body); err != nil {
		lis.Close()
		return errors.Join(err, ctl.Wait())
	}
	front := &http.Server{Handler: &control.Front{Manager: ctl.Manager, Deployment: o.name}, ReadHeaderTimeout: 10 * time.Second}
	go front.Serve(lis)
	apiURL := "http://" + ctl.Addr()
	if err := writeUpJSON(o.stateDir, map[string]string{"redis": cfg.Redis, "api_url": apiURL,
		"openai_base_url": "http://" + lis.Addr().String() + "/v1", "deployment": o.name}); err != nil {
		slog.Warn("up.json not written", "err", err)
	}
	printExamples(out, lis.Addr().String(), o.name, o.adapterRoot, apiURL)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = front.Shutdown(sctx)
	return ctl.Wait()
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

func writeUpJSON(dir string, v map[string]string) error {
	b, _ := json.MarshalIndent(v, "", "  ")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "up.json"), append(b, '\n'), 0o600)
}

func printExamples(w io.Writer, listen, model, adapterRoot, apiURL string) {
	adapter := model
	if adapterRoot != "" {
		if entries, err := os.ReadDir(adapterRoot); err == nil && len(entries) > 0 {
			adapter = entries[0].Name()
		}
	}
	fmt.Fprintf(w, `Graft is starting on http://%[1]s (deployment %[2]q).

Try it:

  curl -s http://%[1]s/v1/models

  curl -s http://%[1]s/v1/chat/completions -H 'Content-Type: application/json' \
    -d '{"model": %[3]q, "messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": 48}'

  # OpenAI SDK (npm install openai; node --input-type=module):
  import OpenAI from 'openai';
  const client = new OpenAI({ baseURL: 'http://%[1]s/v1', apiKey: 'unused' });
  const r = await client.completions.create({ model: %[3]q, prompt: 'Once upon a time', max_tokens: 48 });
  console.log(r.choices[0].text);

  # The deployment, through the management API on %[4]s:
  graft deployments get %[2]s --api-url %[4]s
  graft deployments events %[2]s --api-url %[4]s

`, listen, model, adapter, apiURL)
}
