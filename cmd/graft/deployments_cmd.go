package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/deploy/api"
)

func init() { register(newDeploymentsCommand) }

// clientOptions are the flags every deployments subcommand shares.
type clientOptions struct {
	url, key string
	json     bool
}

func (o *clientOptions) client() *api.Client { return &api.Client{BaseURL: o.url, APIKey: o.key} }

func newDeploymentsCommand() *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:     "deployments",
		Aliases: []string{"deployment"},
		Short:   "Create, inspect, change, stop, start and delete deployments through the management API",
		Long: `Drive the management API of a control process (graft up or graft control).
--json prints the API's own JSON. A deployment's statuses: Pending, Initializing,
Ready, Standby (scaled to zero, a request wakes it), Stopped (nothing wakes it
until started), Errored (its last start failed: the reason says why), Updating,
Deleted.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.url, "api-url", "http://127.0.0.1:8080", "management API URL")
	pf.StringVar(&o.key, "api-key", "", "management API key, sent as Authorization: Bearer KEY")
	pf.BoolVar(&o.json, "json", false, "print the API's JSON")
	cmd.AddCommand(newCreateCommand(&o), newListCommand(&o), newGetCommand(&o), newUpdateCommand(&o),
		newActionCommand(&o, "stop", "Stop a deployment: its replicas drain and go, and nothing wakes it until started"),
		newActionCommand(&o, "start", "Start a Stopped (or Errored) deployment: it goes to Standby, and a request or min_replicas wakes it"),
		newActionCommand(&o, "delete", "Delete a deployment: its replicas drain and go; its record stays as Deleted"),
		newActionCommand(&o, "wake", "Wake a deployment and wait until a replica serves it (or say why it cannot)"),
		newEventsCommand(&o))
	return cmd
}

// specFlags are the spec's fields as flags; only the ones given are sent, so
// the API's defaults (create) or the current values (update) hold for the rest.
type specFlags struct {
	baseModel                           string
	adapterSources, preload             []string
	minReplicas, maxReplicas, threshold int
	threads, maxActive, contextLength   int
	cooldown                            time.Duration
	typ, device                         string
}

func addSpecFlags(cmd *cobra.Command, s *specFlags) {
	f := cmd.Flags()
	f.StringVar(&s.baseModel, "base-model", "", "base model: a local .gguf file or Hugging Face folder, or hf://org/name[/FILE.gguf][@revision] (fetched by each replica)")
	f.StringArrayVar(&s.adapterSources, "adapter-source", nil, "where adapters come from: a local folder (adapters by folder name), hf:// or s3://bucket/prefix (repeatable)")
	f.IntVar(&s.minReplicas, "min-replicas", 0, "fewest replicas; 0 lets the deployment scale to zero (default 0)")
	f.IntVar(&s.maxReplicas, "max-replicas", 0, "most replicas (default 1)")
	f.IntVar(&s.threshold, "scale-up-threshold", 0, "running plus queued requests per replica above which another starts (default 1)")
	f.DurationVar(&s.cooldown, "cooldown", 0, "how long the load must stay low before a replica is removed (default 1h)")
	f.StringSliceVar(&s.preload, "preload", nil, "adapters each replica loads before it serves (comma separated)")
	f.StringVar(&s.typ, "type", "", "dedicated (one tenant) or serverless (every tenant, with its own adapters) (default dedicated)")
	f.IntVar(&s.threads, "threads", 0, "CPU threads per replica (0: all cores)")
	f.IntVar(&s.maxActive, "max-active-adapters", 0, "adapter slots per replica (0: the engine's default, -1: none)")
	f.IntVar(&s.contextLength, "context-length", 0, "context length (0: the model's)")
	f.StringVar(&s.device, "device", "", deviceFlagHelp)
}

// fields returns the JSON fields of the flags given on the command line.
func (s *specFlags) fields(cmd *cobra.Command) map[string]any {
	out := map[string]any{}
	set := func(flag, field string, v any) {
		if cmd.Flags().Changed(flag) {
			out[field] = v
		}
	}
	set("base-model", "base_model", localPath(s.baseModel))
	sources := make([]string, len(s.adapterSources))
	for i, src := range s.adapterSources {
		sources[i] = localPath(src)
	}
	set("adapter-source", "adapter_sources", sources)
	set("min-replicas", "min_replicas", s.minReplicas)
	set("max-replicas", "max_replicas", s.maxReplicas)
	set("scale-up-threshold", "scale_up_threshold", s.threshold)
	set("cooldown", "cooldown", s.cooldown.String())
	set("preload", "preloaded_adapters", s.preload)
	set("type", "type", s.typ)
	set("threads", "threads", s.threads)
	set("max-active-adapters", "max_active_adapters", s.maxActive)
	set("context-length", "context_length", s.contextLength)
	set("device", "device", s.device)
	return out
}

// localPath makes a path that exists here absolute, since the control
// process may run in another folder; anything else goes as given.
func localPath(p string) string {
	if strings.Contains(p, "://") {
		return p
	}
	if _, err := os.Stat(p); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	return p
}

func newCreateCommand(o *clientOptions) *cobra.Command {
	var s specFlags
	cmd := &cobra.Command{
		Use:   "create NAME --base-model PATH [flags]",
		Short: "Create a deployment",
		Example: `  graft deployments create demo --base-model ../shared/models/stories260K/gguf/stories260K.gguf \
    --adapter-source ../shared/models/stories260K/adapters --max-replicas 2 --cooldown 10m`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fields := s.fields(cmd)
			fields["name"] = args[0]
			body, _ := json.Marshal(fields)
			d, raw, err := o.client().Create(cmd.Context(), body)
			return o.show(cmd.OutOrStdout(), raw, err, func(w io.Writer) { printDeployment(w, d) })
		},
	}
	addSpecFlags(cmd, &s)
	return cmd
}

func newUpdateCommand(o *clientOptions) *cobra.Command {
	var s specFlags
	cmd := &cobra.Command{
		Use:   "update NAME [flags]",
		Short: "Change a deployment's spec (only the flags given); a change that needs new replicas replaces them one by one",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fields := s.fields(cmd)
			if len(fields) == 0 {
				return usageError("update %s: no spec flag given (see graft deployments update --help)", args[0])
			}
			body, _ := json.Marshal(fields)
			d, raw, err := o.client().Update(cmd.Context(), args[0], body)
			return o.show(cmd.OutOrStdout(), raw, err, func(w io.Writer) { printDeployment(w, d) })
		},
	}
	addSpecFlags(cmd, &s)
	return cmd
}

func newListCommand(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List deployments",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ds, raw, err := o.client().List(cmd.Context())
			return o.show(cmd.OutOrStdout(), raw, err, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tSTATUS\tREADY\tTYPE\tGENERATION\tBASE MODEL")
				for _, d := range ds {
					fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%d\t%s\n", d.Name, d.Status, d.Replicas.Ready, d.Replicas.Desired,
						d.Type, d.Generation, d.Spec.BaseModel)
				}
				tw.Flush()
			})
		},
	}
}

func newGetCommand(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show a deployment: status and why, replicas, spec",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, raw, err := o.client().Get(cmd.Context(), args[0])
			return o.show(cmd.OutOrStdout(), raw, err, func(w io.Writer) { printDeployment(w, d) })
		},
	}
}

func newActionCommand(o *clientOptions, action, short string) *cobra.Command {
	return &cobra.Command{
		Use:   action + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, raw, err := o.client().Action(cmd.Context(), args[0], action)
			return o.show(cmd.OutOrStdout(), raw, err, func(w io.Writer) {
				fmt.Fprintf(w, "deployment %s: %s (%s)\n", d.Name, d.Status, d.StatusReason)
			})
		},
	}
}

func newEventsCommand(o *clientOptions) *cobra.Command {
	var after string
	cmd := &cobra.Command{
		Use:   "events NAME",
		Short: "Show a deployment's status changes, oldest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			evs, raw, err := o.client().Events(cmd.Context(), args[0], after)
			return o.show(cmd.OutOrStdout(), raw, err, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				for _, e := range evs {
					change := e.Status
					if e.Previous != "" && e.Previous != e.Status {
						change = e.Previous + " -> " + e.Status
					}
					fmt.Fprintf(tw, "%s\t%s\tgeneration %d\t%s\n", e.Time.Local().Format(time.DateTime), change, e.Generation, e.Reason)
				}
				tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&after, "after", "", "only events after this event id")
	return cmd
}

// show prints the API's JSON (--json) or the human form; an API error that
// is the caller's fault (4xx but not 404/409) exits 2 like other bad input.
func (o *clientOptions) show(w io.Writer, raw []byte, err error, human func(io.Writer)) error {
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) {
			if o.json {
				w.Write(raw)
			}
			if ae.Status == 400 || ae.Status == 415 {
				return exitError{code: 2, err: err}
			}
		}
		return err
	}
	if o.json {
		_, err := w.Write(raw)
		return err
	}
	human(w)
	return nil
}

func printDeployment(w io.Writer, d api.Deployment) {
	s := d.Spec
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "name:\t%s\n", d.Name)
	fmt.Fprintf(tw, "status:\t%s (%s, since %s)\n", d.Status, d.StatusReason, d.StatusTime.Local().Format(time.DateTime))
	fmt.Fprintf(tw, "type:\t%s\n", d.Type)
	fmt.Fprintf(tw, "generation:\t%d\n", d.Generation)
	fmt.Fprintf(tw, "replicas:\t%d ready, %d desired (min %d, max %d)\n", d.Replicas.Ready, d.Replicas.Desired, s.MinReplicas, s.MaxReplicas)
	fmt.Fprintf(tw, "scaling:\tup above %d requests per replica, down after %s below\n", s.ScaleUpThreshold, time.Duration(s.Cooldown))
	fmt.Fprintf(tw, "base model:\t%s\n", s.BaseModel)
	if len(s.AdapterSources) > 0 || len(s.PreloadedAdapters) > 0 {
		fmt.Fprintf(tw, "adapters:\tsources %s; preloaded %s\n", strings.Join(s.AdapterSources, ", "), strings.Join(s.PreloadedAdapters, ", "))
	}
	fmt.Fprintf(tw, "created:\t%s\n", d.CreatedAt.Local().Format(time.DateTime))
	fmt.Fprintf(tw, "updated:\t%s\n", d.UpdatedAt.Local().Format(time.DateTime))
	tw.Flush()
}
