package train

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/kernel"
	"github.com/graft-ai/graft/engine/randmodel"
)

// BenchOptions shape `graft bench train`.
type BenchOptions struct {
	Dir     string // where the random 110M model is kept ("" for a temporary directory)
	Threads int    // 0: all cores
	Seq     int    // tokens per sequence
	Batch   int    // sequences per step
	Steps   int    // timed optimizer steps (after one untimed)
	Rank    int
	Targets []string
	Seed    uint64
	NoPEFT  bool
	Log     io.Writer
}

// BenchResult holds training throughput, in tokens per second.
type BenchResult struct {
	Options      BenchOptions
	Graft        float64
	GraftThreads int
	// Per CPU-second of the process with one thread: unlike wall time it does
	// not depend on what else the machine runs at that moment.
	GraftCPU, PEFTCPU float64
	PEFT              float64 // 0 when PEFT did not run
	PEFTSkipped       string  // why PEFT did not run
	PEFTInfo          string
}

// Print writes the result as a small table with the ratio.
func (r *BenchResult) Print(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "LoRA training, random stories110M-shaped Llama (F32), rank %d on %v, %d×%d tokens per step, %d timed steps\n",
		o.Rank, o.Targets, o.Batch, o.Seq, o.Steps)
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(w, "  load average %s (both sides share the machine with it)\n", strings.Join(strings.Fields(string(la))[:3], " "))
	}
	fmt.Fprintf(w, "  graft (%d threads)        %8.1f tokens/s\n", r.GraftThreads, r.Graft)
	if r.PEFT == 0 {
		fmt.Fprintf(w, "  peft               skipped: %s\n", r.PEFTSkipped)
		return
	}
	fmt.Fprintf(w, "  peft (%s)  %8.1f tokens/s\n", r.PEFTInfo, r.PEFT)
	fmt.Fprintln(w, "  (each side: the best of all threads and one thread)")
	fmt.Fprintf(w, "  ratio graft/peft   %8.2f×  (goal ≥ 1.0)\n", r.Graft/r.PEFT)
	if r.GraftCPU > 0 && r.PEFTCPU > 0 {
		fmt.Fprintf(w, "  one thread, tokens per CPU-second: graft %.1f, peft %.1f, ratio %.2f×\n", r.GraftCPU, r.PEFTCPU, r.GraftCPU/r.PEFTCPU)
	}
}

func (o *BenchOptions) defaults() {
	if o.Seq == 0 {
		o.Seq = 256
	}
	if o.Batch == 0 {
		o.Batch = 2
	}
	if o.Steps == 0 {
		o.Steps = 3
	}
	if o.Rank == 0 {
		o.Rank = 16
	}
	if len(o.Targets) == 0 {
		o.Targets = []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Bench measures training tokens/s of Graft and, when its virtualenv is
// present, of PEFT on the same model, batch and adapter shape.
func Bench(ctx context.Context, o BenchOptions) (*BenchResult, error) {
	o.defaults()
	targets, err := targetSet(o.Targets)
	if err != nil {
		return nil, err
	}
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "graft-bench-train-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	modelDir := filepath.Join(dir, "stories110M-random")
	if _, err := os.Stat(filepath.Join(modelDir, "config.json")); err != nil {
		fmt.Fprintf(o.Log, "writing a random stories110M-shaped model to %s\n", modelDir)
		if err := randmodel.WriteHF(modelDir, randmodel.Stories110M(o.Seed), "F32", 1); err != nil {
			return nil, err
		}
	}
	l, err := engine.Load(modelDir, hostBackend{})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	mc := l.Model.Config
	rng := rand.New(rand.NewPCG(o.Seed, 3))
	batch := make([]sample, o.Batch)
	for i := range batch {
		s := sample{tokens: make([]int32, o.Seq), targets: make([]int32, o.Seq)}
		for k := range s.tokens {
			s.tokens[k] = int32(3 + rng.IntN(mc.Vocab-3))
		}
		for k := range s.targets {
			s.targets[k] = -1
			if k+1 < o.Seq {
				s.targets[k] = s.tokens[k+1]
			}
		}
		batch[i] = s
	}
	cfg := Config{Rank: o.Rank, Alpha: float64(2 * o.Rank), TargetModules: o.Targets, BaseModel: modelDir}.withDefaults()
	ad := newAdapter[float32](&mc, targets, o.Rank, loraScale(cfg.Alpha, o.Rank, false), 0, rand.New(rand.NewPCG(o.Seed, 1)))
	initDir := filepath.Join(dir, "init-adapter") // PEFT starts from the same A and B
	if err := writeAdapter(initDir, cfg, ad); err != nil {
		return nil, err
	}
	res := &BenchResult{Options: o}
	threads := o.Threads
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	// Both sides get the best of all threads and one: on a busy machine
	// spinning worker threads (OpenMP's, the kernel pool's) can cost more
	// than a second thread gains.
	tryThreads := slices.Compact([]int{threads, 1})
	for _, th := range tryThreads {
		oo := o
		oo.Threads = th
		tps, perCPU, err := benchGraft(ctx, l, ad, batch, oo)
		if err != nil {
			return nil, err
		}
		if th == 1 {
			res.GraftCPU = perCPU
		}
		fmt.Fprintf(o.Log, "graft with %d threads: %.1f tokens/s\n", th, tps)
		if tps > res.Graft {
			res.Graft, res.GraftThreads = tps, th
		}
	}
	if o.NoPEFT {
		res.PEFTSkipped = "--no-peft"
		return res, nil
	}
	py, err := PEFTPython()
	if err != nil {
		res.PEFTSkipped = err.Error()
		return res, nil
	}
	fmt.Fprintln(o.Log, "timing peft")
	for _, th := range tryThreads {
		var ref struct {
			TokensPerS float64 `json:"tokens_per_s"`
			PerCPU     float64 `json:"tokens_per_cpu_s"`
			Torch      string  `json:"torch"`
			Threads    int     `json:"threads"`
		}
		spec := map[string]any{"base": modelDir, "init_adapter": initDir, "batch": refSamples(batch), "steps": o.Steps, "threads": th}
		if err := runReference(py, "bench", spec, &ref); err != nil {
			return nil, err
		}
		fmt.Fprintf(o.Log, "peft with %d threads: %.1f tokens/s\n", ref.Threads, ref.TokensPerS)
		if th == 1 {
			res.PEFTCPU = ref.PerCPU
		}
		if ref.TokensPerS > res.PEFT {
			res.PEFT, res.PEFTInfo = ref.TokensPerS, fmt.Sprintf("torch %s, %d threads", ref.Torch, ref.Threads)
		}
	}
	return res, nil
}

func benchGraft(ctx context.Context, l *engine.Loaded, ad *adapter[float32], batch []sample, o BenchOptions) (perSecond, perCPUSecond float64, err error) {
	pool := kernel.NewPool(o.Threads)
	defer pool.Close()
	n := newNet(newBase[float32](l.Model), ad, pool, o.Seq, rand.New(rand.NewPCG(o.Seed, 2)))
	var params, grads [][]float32
	ad.each(func(_, _ int, p *loraParam[float32]) {
		params, grads = append(params, p.a, p.b), append(grads, p.ga, p.gb)
	})
	opt := newAdamW(params, 0)
	pk := &packed{}
	for _, s := range batch {
		pk.add(s.tokens, s.targets)
	}
	count := pk.lossTokens()
	stop := func() bool { return ctx.Err() != nil }
	step := func() error {
		ad.zeroGrad()
		if _, _, stopped := n.forward(pk, true, stop); stopped || n.backward(pk, float32(1/float64(count)), stop) {
			return ctx.Err()
		}
		clipGrads(grads, 1)
		opt.update(pool, params, grads, 1e-4)
		return nil
	}
	if err := step(); err != nil {
		return 0, 0, err
	}
	start, cpu := time.Now(), cpuSeconds()
	for range o.Steps {
		if err := step(); err != nil {
			return 0, 0, err
		}
	}
	tokens := float64(o.Steps * len(pk.tokens))
	return tokens / time.Since(start).Seconds(), tokens / (cpuSeconds() - cpu), nil
}

// cpuSeconds is the user+system CPU time this process has used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
