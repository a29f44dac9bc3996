package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/routing/ring"
	"github.com/graft-ai/graft/routing/sim"
)

func init() { registerBench(newBenchFleetCommand) }

type benchFleetOptions struct {
	models              string
	replicas, adapters  int
	requests, maxSeqs   int
	rate, zipf          float64
	maxPrompt, maxOuput int
	seed                uint64
}

func newBenchFleetCommand() *cobra.Command {
	var o benchFleetOptions
	cmd := &cobra.Command{
		Use:   "fleet [--replicas 3] [--adapters 64] [--requests 300] [--rate 4]",
		Short: "Drive a small real fleet through Envoy with the simulator's traffic and compare with its prediction",
		Long: `Start redis-server, N stories260K pods (engine + sidecar, one thread each), the
gateway, the xDS control plane and Envoy on this machine, with adapters copied
from stories260K's under N names. Calibrate the pods' decode step (one stream,
then a batch on every replica), then send graft sim routing's request stream
(Poisson, Zipf over the adapters, the Azure chat trace's lengths clipped to
the small model) through the front, and replay the same requests, with the output lengths
the pods produced, in the simulator under Graft's policy, starting from the adapters each engine
holds after the calibration. The table shows the fleet's and the simulator's
throughput, end-to-end latency, per-replica shares and adapter loads (slot
loads and reads from files, the engines' own counts).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchFleet(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.models, "models", os.Getenv("GRAFT_TESTDATA"), "folder holding stories260K (default $GRAFT_TESTDATA)")
	f.IntVar(&o.replicas, "replicas", 3, "pods")
	f.IntVar(&o.adapters, "adapters", 64, "adapters")
	f.IntVar(&o.requests, "requests", 300, "requests sent")
	f.IntVar(&o.maxSeqs, "max-num-seqs", 8, "each engine's batch")
	f.Float64Var(&o.rate, "rate", 4, "offered requests/s")
	f.Float64Var(&o.zipf, "zipf", 1.1, "Zipf exponent of adapter popularity")
	f.IntVar(&o.maxPrompt, "max-prompt", 48, "prompt words at most")
	f.IntVar(&o.maxOuput, "max-output", 48, "max_tokens at most")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the request stream")
	return cmd
}

type fleetAnswer struct {
	code     int
	replica  string
	tokens   int
	at, took float64
}

func runBenchFleet(ctx context.Context, out, log io.Writer, o benchFleetOptions) error {
	if o.replicas < 1 || o.adapters < 1 || o.requests < 1 || o.rate <= 0 || o.maxPrompt < 1 || o.maxOuput < 1 {
		return usageError("replicas, adapters, requests, rate, max-prompt and max-output must be positive")
	}
	root := filepath.Join(o.models, "stories260K")
	model := filepath.Join(root, "gguf", "stories260K.gguf")
	if _, err := os.Stat(model); err != nil {
		return usageError("--models: %v (set GRAFT_TESTDATA or --models to the folder holding stories260K)", err)
	}
	dir, err := os.MkdirTemp("", "graft-bench-fleet-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	names, err := copyAdapters(filepath.Join(root, "adapters"), filepath.Join(dir, "adapters"), o.adapters)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "starting redis-server, %d pods, the gateway and Envoy\n", o.replicas)
	f, err := startFleet(ctx, dir, model, filepath.Join(dir, "adapters"), o.replicas, o.maxSeqs)
	if err != nil {
		return err
	}
	defer f.stop()
	svc, err := f.calibrate(ctx, log, names, o)
	if err != nil {
		return err
	}
	lengths, err := sim.LoadLengths("")
	if err != nil {
		return err
	}
	lengths.Prompt.Max, lengths.Output.Max = o.maxPrompt, o.maxOuput
	cfg := sim.Config{Replicas: o.replicas, Adapters: o.adapters, ZipfS: o.zipf, Seed: o.seed, Service: svc, Lengths: lengths}
	cfg.Load = o.rate / (cfg.Capacity() * float64(o.replicas))
	stream := sim.NewStream(cfg)
	reqs := make([]sim.Arrival, o.requests)
	for i := range reqs {
		reqs[i] = stream.Next()
	}
	warm := f.resident(names)
	for i, w := range warm {
		fmt.Fprintf(log, "r%d holds %d adapters in slots and %d more in host memory after the calibration\n", i, len(w.Slots), len(w.Host))
	}
	fmt.Fprintf(log, "sending %d requests at %.1f/s over %d adapters\n", o.requests, o.rate, o.adapters)
	reads0, slots0 := f.adapterLoads()
	answers := f.drive(ctx, reqs, names)
	reads1, slots1 := f.adapterLoads()
	loads := fleetLoads{reads: float64(reads1-reads0) * 1000 / float64(len(answers)),
		slots: float64(slots1-slots0) * 1000 / float64(len(answers))}
	var hosts []ring.Host
	for i := range o.replicas {
		hosts = append(hosts, ring.Host{Key: fmt.Sprintf("r%d", i)})
	}
	home := ring.NewRing(hosts, ring.DefaultMinRingSize, ring.DefaultMaxRingSize)
	atHome := 0
	for i, a := range answers {
		if a.code != 200 {
			return fmt.Errorf("bench fleet: request %d got %d", i, a.code)
		}
		reqs[i].Output = a.tokens
		if hosts[home.Pick(ring.HashKey(names[reqs[i].Adapter]), 0)].Key == a.replica {
			atHome++
		}
	}
	fmt.Fprintf(log, "%d of %d requests served on their adapter's ring home\n", atHome, len(answers))
	cfg.Replay, cfg.Duration, cfg.Warmup, cfg.AdapterNames, cfg.Warm = reqs, reqs[len(reqs)-1].At+1, 0, names, warm
	for _, h := range hosts {
		cfg.ReplicaNames = append(cfg.ReplicaNames, h.Key)
	}
	p, _ := sim.ParsePolicy("graft")
	res, err := sim.Run(cfg, p)
	if err != nil {
		return err
	}
	return printFleetComparison(out, o, svc, answers, res, loads)
}

// copyAdapters makes n adapters named after stories260K's, cycling them.
func copyAdapters(src, dst string, n int) ([]string, error) {
	entries, err := os.ReadDir(src)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("bench fleet: no adapters in %s", src)
	}
	var names []string
	for i := range n {
		e := entries[i%len(entries)]
		name := fmt.Sprintf("%s-%03d", e.Name(), i)
		if err := os.CopyFS(filepath.Join(dst, name), os.DirFS(filepath.Join(src, e.Name()))); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, nil
}

// complete posts one completion and returns its status, replica, output
// tokens and latency.
func (f *realFleet) complete(ctx context.Context, model, prompt string, maxTokens int) (int, string, int, float64) {
	body, _ := json.Marshal(map[string]any{"model": model, "prompt": prompt, "max_tokens": maxTokens})
	req, _ := http.NewRequestWithContext(ctx, "POST", f.url+"/v1/completions", strings.NewReader(string(body)))
	req.Header.Set("content-type", "application/json")
	req.Header.Set("authorization", "Bearer "+f.key)
	start := time.Now()
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, "", 0, 0
	}
	defer resp.Body.Close()
	var r struct {
		Usage struct {
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&r)
	return resp.StatusCode, resp.Header.Get("x-graft-replica"), r.Usage.CompletionTokens, time.Since(start).Seconds()
}

func promptOf(words int) string {
	base := strings.Fields("Once upon a time there was a little girl named Lily who loved to play outside in the sun")
	var w []string
	for i := range words {
		w = append(w, base[i%len(base)])
	}
	return strings.Join(w, " ")
}

// drive sends each request at its time and waits for all answers.
func (f *realFleet) drive(ctx context.Context, reqs []sim.Arrival, names []string) []fleetAnswer {
	answers := make([]fleetAnswer, len(reqs))
	var wg sync.WaitGroup
	start := time.Now()
	for i, a := range reqs {
		if d := time.Until(start.Add(time.Duration(a.At * float64(time.Second)))); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			at := time.Since(start).Seconds()
			code, rep, tok, took := f.complete(ctx, "stories/"+names[a.Adapter], promptOf(a.Prompt), a.Output)
			answers[i] = fleetAnswer{code: code, replica: rep, tokens: tok, at: at, took: took}
		}()
	}
	wg.Wait()
	return answers
}

// calibrate fits the simulator's service model to the pods: one stream's
// step and the fixed cost of a request (HTTP, gateway, Envoy) from
// sequential 1- and 32-token requests, then the step of maxSeqs streams on
// every replica at once (adapters chosen by the ring so each replica gets
// its share).
func (f *realFleet) calibrate(ctx context.Context, log io.Writer, names []string, o benchFleetOptions) (sim.Service, error) {
	const tokens = 32
	var hosts []ring.Host
	for i := range o.replicas {
		hosts = append(hosts, ring.Host{Key: fmt.Sprintf("r%d", i)})
	}
	rg := ring.NewRing(hosts, ring.DefaultMinRingSize, ring.DefaultMaxRingSize)
	byReplica := make([][]string, o.replicas)
	for _, n := range names {
		h := rg.Pick(ring.HashKey(n), 0)
		byReplica[h] = append(byReplica[h], n)
	}
	seq := func(maxTokens int) (took, tok float64, err error) {
		const n = 6
		for i := range n {
			code, _, t, d := f.complete(ctx, "stories/"+names[i%len(names)], "Once", maxTokens)
			if code != 200 || t < 1 {
				return 0, 0, fmt.Errorf("bench fleet: calibration request got %d (%d tokens)", code, t)
			}
			took, tok = took+d/n, tok+float64(t)/n
		}
		return took, tok, nil
	}
	seq(1) // warm connections and adapters
	t1, _, err := seq(1)
	if err != nil {
		return sim.Service{}, err
	}
	tn, nTok, err := seq(tokens)
	if err != nil {
		return sim.Service{}, err
	}
	one := max((tn-t1)/max(nTok-1, 1), 1e-5)
	overhead := max(t1-one, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var sum float64
	var n int
	var failed error
	for k := range o.maxSeqs {
		for r := range o.replicas {
			if len(byReplica[r]) == 0 {
				continue
			}
			a := byReplica[r][k%len(byReplica[r])]
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, _, tok, took := f.complete(ctx, "stories/"+a, "Once", tokens)
				mu.Lock()
				defer mu.Unlock()
				if code != 200 || tok < 1 {
					failed = fmt.Errorf("bench fleet: calibration request got %d (%d tokens)", code, tok)
					return
				}
				sum += max(took-overhead, 0) / float64(tok)
				n++
			}()
		}
	}
	wg.Wait()
	if failed != nil {
		return sim.Service{}, failed
	}
	batch := sum / float64(n)
	perSeq := one / 2
	if o.maxSeqs > 1 {
		perSeq = max((batch-one)/float64(o.maxSeqs-1), 1e-6)
	}
	svc := sim.Service{
		Source: fmt.Sprintf("calibrated on the fleet: step %.2f ms alone, %.2f ms at %d streams per replica; %.1f ms per request outside the engine",
			one*1000, batch*1000, o.maxSeqs, overhead*1000),
		StepBase: max(one-perSeq, 0), StepPerSeq: perSeq, Overhead: overhead,
		// stories260K's adapters are tiny: loading one is well under a
		// step; the engine's default slots and host cache.
		LoadHost: 0.0002, LoadRemote: 0.001, Slots: 8, HostCache: 64, MaxBatch: o.maxSeqs, KVTokens: 1 << 20,
	}
	fmt.Fprintln(log, svc.Source)
	return svc, nil
}

// fleetLoads are the pods' own counts per 1000 requests over the run:
// adapters copied into a slot, and adapters read from their files.
type fleetLoads struct{ slots, reads float64 }

func printFleetComparison(w io.Writer, o benchFleetOptions, svc sim.Service, answers []fleetAnswer, res sim.Result, loads fleetLoads) error {
	var e2e []float64
	perReplica := map[string]int{}
	first, last := math.Inf(1), 0.0
	for _, a := range answers {
		e2e = append(e2e, a.took)
		perReplica[a.replica]++
		first, last = min(first, a.at), max(last, a.at+a.took)
	}
	slices.Sort(e2e)
	q := func(p float64) float64 { return e2e[min(int(p*float64(len(e2e))), len(e2e)-1)] }
	thr := float64(len(answers)) / (last - first)
	simThr := float64(res.Requests) / res.Makespan
	fmt.Fprintf(w, "graft bench fleet: %d stories260K pods behind Envoy, %d adapters, %d requests at %.1f/s (Zipf %.2f)\n%s\n\n",
		o.replicas, o.adapters, o.requests, o.rate, o.zipf, svc.Source)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tfleet\tsimulator\terror\t")
	row := func(name string, real, pred float64, unit string) {
		fmt.Fprintf(tw, "%s\t%.3g%s\t%.3g%s\t%+.0f%%\t\n", name, real, unit, pred, unit, 100*(pred-real)/real)
	}
	row("throughput (req/s)", thr, simThr, "")
	row("e2e p50", q(0.5), res.E2E50, "s")
	row("e2e p99", q(0.99), res.E2E99, "s")
	imb := 0.0
	for i := range o.replicas {
		share := float64(perReplica[fmt.Sprintf("r%d", i)]) / float64(len(answers))
		imb = max(imb, share*float64(o.replicas))
		row(fmt.Sprintf("share of r%d", i), share, float64(res.PerReplica[i])/float64(res.Requests), "")
	}
	simImb := 0.0
	for _, n := range res.PerReplica {
		simImb = max(simImb, float64(n)*float64(o.replicas)/float64(res.Requests))
	}
	row("imbalance (requests, max/mean)", imb, simImb, "")
	row("adapter slot loads per 1000 requests", loads.slots, res.LoadsPer1k, "")
	row("adapter reads from files per 1000", loads.reads, res.RemoteLoadsPer1k, "")
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nThe fleet's adapter counts are the engines' own (graft:adapter_slot_loads_total and graft:adapter_loads_total), over the measured requests only; the simulator starts with the adapters each engine held after the calibration (in slots, in host memory), so both count loads from the same state.")
	return nil
}
