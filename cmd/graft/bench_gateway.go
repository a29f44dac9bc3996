package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/internal/fleet"
)

func init() { registerBench(newBenchGatewayCommand) }

func newBenchGatewayCommand() *cobra.Command {
	c := fleet.Config{}
	var podInProcess bool
	cmd := &cobra.Command{
		Use:   "gateway [--model PATH] [--rates 50,100,200] [--duration 5s] [--breakdown] [--envoy-alone] [--http2] [--pod-in-process]",
		Short: "Measure the latency the front door (Envoy + gateway) adds over calling a pod directly",
		Long: `Start a redis-server, one pod (engine + sidecar) of --model, and the front door
(the gateway, the xDS control plane and a real Envoy over HTTPS), then send the
same streamed completion (max_tokens 1) straight to the pod's sidecar and
through the front, one of each per tick (the front's half a tick later, so the
two never wait on each other's engine step), open loop at each rate. The pod
runs as "graft serve" in its own process, as clients find it (--pod-in-process
keeps it in the client's process, which spares the direct path the two process
wake-ups of a real call and so counts them as the front's). It
prints the time to first byte of both paths (p50, p99) and the difference:
what the front adds. With --breakdown Envoy logs every request and the table
that follows splits the front's time into the client's request, the gateway
and routing, and the replica, with the gateway's exchange as Envoy timed it. Without --model it uses the stories260K demo
model.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.Model == "" {
				d := demoModelsDir()
				if d == "" {
					return exitError{code: 2, err: errors.New("--model is required (no demo models: set GRAFT_TESTDATA)")}
				}
				c.Model = filepath.Join(d, "stories260K", "gguf", "stories260K.gguf")
			}
			if c.Listen == "" {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					return err
				}
				c.Listen = l.Addr().String()
				l.Close()
			}
			if !podInProcess {
				exe, err := os.Executable()
				if err != nil {
					return err
				}
				c.PodExe = exe
			}
			c.Out = cmd.OutOrStdout()
			fmt.Fprintf(c.Out, "front door overhead on %s, %v per rate\n", c.Model, c.Duration)
			_, err := fleet.Run(cmd.Context(), c)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.Model, "model", "", "model the pod serves (default: the stories260K demo)")
	f.StringVar(&c.AdapterRoot, "adapter-root", "", "adapters the pod may load")
	f.StringVar(&c.Adapter, "adapter", "", "send requests to this adapter of the deployment")
	f.Float64SliceVar(&c.Rates, "rates", []float64{50, 100, 200}, "requests per second down each path")
	f.DurationVar(&c.Duration, "duration", 5*time.Second, "time spent at each rate")
	f.StringVar(&c.Listen, "listen", "", "the front's HTTPS address (default: a free loopback port)")
	f.BoolVar(&c.HTTP2, "http2", false, "send the front's requests over HTTP/2 (default HTTP/1.1 over TLS, as the OpenAI SDKs)")
	f.BoolVar(&c.Breakdown, "breakdown", false, "have Envoy log each request and print where the front's time went")
	f.BoolVar(&c.EnvoyAlone, "envoy-alone", false, "also measure a second Envoy with no gateway, to split the front's cost between Envoy and the gateway")
	f.StringVar(&c.GatewayModule, "gateway-module", "", "have Envoy load the gateway as this dynamic module (make gateway-module) instead of calling it over ext_proc")
	f.BoolVar(&podInProcess, "pod-in-process", false, "run the pod in the benchmark's own process, beside the client (the measure before the pod had its own)")
	return cmd
}
