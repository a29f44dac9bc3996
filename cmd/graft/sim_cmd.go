package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/routing/sim"
)

func init() { register(newSimCommand) }

func newSimCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Simulate a fleet to see how Graft's routing behaves at scale",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newSimRoutingCommand())
	return cmd
}

type simRoutingOptions struct {
	fleets, adapters         []int
	policies                 []string
	arrivals                 string
	serviceFile, lengthsFile string
	out                      string
	cfg                      sim.Config
}

func newSimRoutingCommand() *cobra.Command {
	var o simRoutingOptions
	cmd := &cobra.Command{
		Use:   "routing [--fleets 10,50,200] [--adapters 1000,5000,20000] [--policies rr,least,gie,graft] [--out DIR]",
		Short: "Compare routing policies on simulated fleets driven by Graft's real routing code",
		Long: `Simulate fleets of replicas (adapter slots, a host cache of adapters, continuous
batching, with step and adapter-load times from service_cpu.json, fitted on this
machine's graft bench engine and graft bench lora) under Poisson or on/off
arrivals, Zipf adapter popularity that drifts, and prompt/output lengths drawn
from quantiles of the Azure LLM inference trace (conversation, 2023). Every policy sees the same requests:

  rr                      round robin
  least                   fewest requests in flight (Envoy LEAST_REQUEST)
  gie[:q,kv,lora,ms]      Gateway API Inference Extension scoring: queue, KV use
                          and LoRA affinity weights, metrics scraped every ms (50)
  graft[:hot,k,factor]    the gateway's route key (hot adapters spread over up to k
                          replicas past hot req/s each) on Envoy's ring with
                          hash_balance_factor, both run from Graft's own code

It prints a table and writes PNG and SVG charts and results.txt under --out.`,
		Example: `  graft sim routing --out /tmp/sim
  graft sim routing --fleets 50 --adapters 5000 --policies "graft:8,8,150 graft:8,8,200" --arrivals onoff`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSimRouting(cmd, o) },
	}
	f := cmd.Flags()
	f.IntSliceVar(&o.fleets, "fleets", []int{10, 50, 200}, "replica counts")
	f.IntSliceVar(&o.adapters, "adapters", []int{1000, 5000, 20000}, "adapter counts")
	f.StringArrayVar(&o.policies, "policies", []string{"rr least gie graft"}, "policies (see above), separated by spaces, or by commas when none has knobs; repeatable")
	f.StringVar(&o.arrivals, "arrivals", "poisson", "poisson, onoff, or both")
	f.Float64Var(&o.cfg.Load, "load", 0.7, "offered load as a fraction of the fleet's estimated capacity")
	f.Float64Var(&o.cfg.ZipfS, "zipf", 1.1, "Zipf exponent of adapter popularity")
	f.Float64Var(&o.cfg.DriftEvery, "drift-every", 60, "seconds between popularity drifts (0: none)")
	f.IntVar(&o.cfg.DriftTop, "drift-top", 50, "most popular ranks that may change adapter in a drift")
	f.Float64Var(&o.cfg.DriftFrac, "drift-frac", 0.2, "chance each of those ranks changes in a drift")
	f.Float64Var(&o.cfg.MeanOn, "on", 30, "mean seconds of an on period (on/off arrivals)")
	f.Float64Var(&o.cfg.MeanOff, "off", 30, "mean seconds of an off period (on/off arrivals)")
	f.Float64Var(&o.cfg.Duration, "duration", 3600, "simulated seconds of arrivals")
	f.Float64Var(&o.cfg.Warmup, "warmup", 600, "simulated seconds before measuring")
	f.Uint64Var(&o.cfg.Seed, "seed", 1, "seed of the request stream")
	f.StringVar(&o.serviceFile, "service", "", "service model JSON (default: the shipped CPU fit)")
	f.StringVar(&o.lengthsFile, "lengths", "", "prompt/output length JSON (default: the shipped Azure conversation-trace quantiles)")
	f.StringVar(&o.out, "out", "", "write charts and results.txt here")
	return cmd
}

func runSimRouting(cmd *cobra.Command, o simRoutingOptions) error {
	var err error
	if o.cfg.Service, err = sim.LoadService(o.serviceFile); err != nil {
		return err
	}
	if o.cfg.Lengths, err = sim.LoadLengths(o.lengthsFile); err != nil {
		return err
	}
	var bursty []bool
	switch o.arrivals {
	case "poisson":
		bursty = []bool{false}
	case "onoff":
		bursty = []bool{true}
	case "both":
		bursty = []bool{false, true}
	default:
		return fmt.Errorf("--arrivals %q: want poisson, onoff or both", o.arrivals)
	}
	var policies []string
	for _, p := range o.policies {
		for _, f := range strings.Fields(p) {
			if strings.Contains(f, ":") {
				policies = append(policies, f)
			} else {
				policies = append(policies, strings.Split(f, ",")...)
			}
		}
	}
	var scenarios []sim.Scenario
	for _, b := range bursty {
		for _, n := range o.fleets {
			for _, a := range o.adapters {
				if n < 1 || a < 1 {
					return fmt.Errorf("fleets and adapters must be positive")
				}
				scenarios = append(scenarios, sim.Scenario{Replicas: n, Adapters: a, Bursty: b})
			}
		}
	}
	var mu sync.Mutex
	errw := cmd.ErrOrStderr()
	rs, err := sim.RunMatrix(cmd.Context(), o.cfg, scenarios, policies, func(r sim.Result) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(errw, "done %d replicas × %d adapters, %s: %.1fs\n", r.Replicas, r.Adapters, r.Policy, r.Wall.Seconds())
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "service model: %s\nlengths: %s\nload %.2f of capacity (%s req/s per replica), Zipf %.2f, %gs measured after %gs\n\n",
		o.cfg.Service.Source, o.cfg.Lengths.Source, o.cfg.Load, strconv.FormatFloat(o.cfg.Capacity(), 'g', 3, 64), o.cfg.ZipfS, o.cfg.Duration-o.cfg.Warmup, o.cfg.Warmup)
	if err := sim.WriteTable(cmd.OutOrStdout(), rs); err != nil {
		return err
	}
	if o.out == "" {
		return nil
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	files, err := sim.WritePlots(o.out, rs)
	if err != nil {
		return err
	}
	t, err := os.Create(filepath.Join(o.out, "results.txt"))
	if err != nil {
		return err
	}
	defer t.Close()
	if err := sim.WriteTable(t, rs); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "\nwrote %s and %d charts in %s\n", t.Name(), len(files), o.out)
	return nil
}
