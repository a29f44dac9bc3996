package benchmark

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/compute/cpu"
	"github.com/graft-ai/graft/engine/model"
	"github.com/graft-ai/graft/engine/sample"
)

var greedyParams = sample.Params{TopP: 1, RepetitionPenalty: 1}

// newCPU opens the CPU backend with the activation mode quantAct, packing
// quantized weights unless noRepack.
func newCPU(threads int, quantAct string, noRepack bool) (*cpu.Backend, error) {
	b := cpu.New(threads)
	if err := b.SetQuantActivations(quantAct); err != nil {
		b.Close()
		return nil, err
	}
	b.SetRepack(!noRepack)
	return b, nil
}

// measureGraft loads the GGUF copy and times prefill and decode on it.
func measureGraft(ctx context.Context, o Options, w workload, r *Report) error {
	fmt.Fprintln(o.Log, "loading the GGUF copy into Graft")
	b, err := newCPU(o.Threads, o.QuantActivations, o.NoRepack)
	if err != nil {
		return err
	}
	defer b.Close()
	start := time.Now()
	l, err := engine.Load(r.Files.GGUF, b)
	if err != nil {
		return err
	}
	defer l.Close()
	r.LoadGGUF = time.Since(start)
	r.Params, r.DecodeBytes = weightCounts(l.Model)
	cfg, err := engineConfig(o, l.Model)
	if err != nil {
		return err
	}
	r.KVBytes = cfg.KVCacheBytes
	eng, err := engine.New(l, cfg)
	if err != nil {
		return err
	}
	defer eng.Close()
	if r.Greedy.GGUF, err = greedy(ctx, eng, w.greedy, o.GreedyTokens); err != nil {
		return err
	}
	for _, p := range w.agreement {
		ids, top, err := greedyTop(ctx, eng, p, o.GreedyTokens)
		if err != nil {
			return err
		}
		r.Greedy.All, r.Greedy.AllTop = append(r.Greedy.All, ids), append(r.Greedy.AllTop, top)
	}
	fmt.Fprintln(o.Log, "prefill")
	if r.Prefill, err = prefill(ctx, o, eng, w.prefill); err != nil {
		return err
	}
	bound := newLocalBound(o)
	for _, n := range o.Batches {
		fmt.Fprintf(o.Log, "decode with %d streams\n", n)
		between := func() {}
		if n == 1 {
			between = bound.pass
		}
		rate, err := decode(ctx, o, eng, w.prompts[:n], between)
		if err != nil {
			return err
		}
		r.Decode = append(r.Decode, Decode{Streams: n, TokS: rate})
	}
	r.LocalBandwidth = bound.passes()
	r.PeakRSS, err = bound.peakRSS()
	return err
}

// engineConfig fits every stream of the largest batch and the whole prefill
// prompt in one step, with a KV cache just large enough for the workload.
// Prefix caching is off: the prefill repetitions send one prompt again and
// again, and each must compute it all, as llama.cpp's cleared sequence does.
func engineConfig(o Options, m *model.Model) (engine.Config, error) {
	const block = 16
	c := &m.Config
	dtype, err := m.KVCacheDtype(o.KVCacheDtype)
	if err != nil {
		return engine.Config{}, err
	}
	seqs := max(maxOf(o.Batches), 1)
	perSeq := (o.DecodePrompt+leadTokens+o.DecodeTokens+block-1)/block*block + block
	tokens := max(seqs*perSeq, c.MaxPositions+block, o.PrefillTokens+2*block)
	return engine.Config{
		MaxNumSeqs: seqs, MaxBatchedTokens: max(512, o.PrefillTokens, seqs*o.DecodePrompt),
		BlockSize: block, KVCacheBytes: int64(tokens) * c.KVBytesPerToken(dtype), DisablePrefixCaching: true,
		KVCacheDtype: dtype,
	}, nil
}

// weightCounts returns the parameter count and the bytes of weights one decode
// step reads for one token: every projection and the output head in full, and
// one row each of the embeddings and norms, each in the format it is kept in.
func weightCounts(m *model.Model) (params int64, perToken int64) {
	c := &m.Config
	size := func(x interface {
		Rows() int
		Cols() int
	}) int64 {
		return int64(x.Rows()) * int64(x.Cols())
	}
	var linear, linearBytes int64
	for _, ly := range m.Layers {
		for _, l := range []*model.Linear{ly.Q, ly.K, ly.V, ly.O, ly.Gate, ly.Up, ly.Down} {
			linear += size(l.W)
			linearBytes += matrixBytes(l.W)
		}
	}
	norms := int64(2*c.Layers+1) * int64(c.Dim)
	params = linear + size(m.Embed) + norms
	if !c.TiedEmbedding {
		params += size(m.Output)
	}
	embedRow := matrixBytes(m.Embed) / int64(m.Embed.Rows())
	return params, linearBytes + matrixBytes(m.Output) + embedRow + 4*norms
}

// generate runs the requests at once and returns their events and the time
// from the first submission until the last one finished.
func generate(ctx context.Context, eng *engine.Engine, reqs []engine.Request) ([]engine.Event, time.Duration, error) {
	start := time.Now()
	streams := make([]*engine.Stream, len(reqs))
	for i, req := range reqs {
		s, err := eng.Generate(ctx, req)
		if err != nil {
			return nil, 0, err
		}
		streams[i] = s
	}
	// Collecting one stream after another wakes this goroutine once per step,
	// not once per stream, so the reader takes little CPU from the engine.
	evs := make([]engine.Event, len(streams))
	for i, s := range streams {
		evs[i] = s.Collect(ctx)
		if evs[i].Err != nil {
			return nil, 0, evs[i].Err
		}
		if len(evs[i].Tokens) != reqs[i].MaxTokens {
			return nil, 0, fmt.Errorf("benchmark: stream %d made %d tokens, want %d (%s)", i, len(evs[i].Tokens), reqs[i].MaxTokens, evs[i].Finish)
		}
	}
	return evs, time.Since(start), ctx.Err()
}

func request(prompt []int32, tokens int) engine.Request {
	return engine.Request{Prompt: prompt, Sampling: greedyParams, MaxTokens: tokens, IgnoreEOS: true}
}

// greedyTop is greedy, also returning the top alternatives at each step
// with their log-probabilities, so a difference from llama.cpp can be told
// from a near tie.
func greedyTop(ctx context.Context, eng *engine.Engine, prompt []int32, n int) ([]int32, [][]sample.TokenLogprob, error) {
	req := request(prompt, n)
	req.Sampling.Logprobs, req.Sampling.TopLogprobs = true, sample.MaxTopLogprobs
	toks, err := greedyTokens(ctx, eng, req)
	top := make([][]sample.TokenLogprob, len(toks))
	for i, t := range toks {
		top[i] = t.Top
	}
	return tokenIDs(toks), top, err
}

func greedy(ctx context.Context, eng *engine.Engine, prompt []int32, n int) ([]int32, error) {
	toks, err := greedyTokens(ctx, eng, request(prompt, n))
	return tokenIDs(toks), err
}

func greedyTokens(ctx context.Context, eng *engine.Engine, req engine.Request) ([]engine.Token, error) {
	evs, _, err := generate(ctx, eng, []engine.Request{req})
	if err != nil {
		return nil, err
	}
	return evs[0].Tokens, nil
}

func tokenIDs(toks []engine.Token) []int32 {
	ids := make([]int32, len(toks))
	for i, t := range toks {
		ids[i] = t.ID
	}
	return ids
}

// prefill times a whole prompt to its first token; the median of the
// repetitions is reported in prompt tokens per second.
func prefill(ctx context.Context, o Options, eng *engine.Engine, prompt []int32) (float64, error) {
	if _, _, err := generate(ctx, eng, []engine.Request{request(prompt[:8], 1)}); err != nil {
		return 0, err
	}
	var times []time.Duration
	err := profiled(o.CPUProfile, "prefill", func() error {
		for range o.PrefillReps {
			_, d, err := generate(ctx, eng, []engine.Request{request(prompt, 1)})
			if err != nil {
				return err
			}
			times = append(times, d)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	slices.Sort(times)
	return float64(len(prompt)) / times[len(times)/2].Seconds(), nil
}

// decode returns the aggregate decode rate of len(prompts) concurrent streams.
// Each repetition runs the streams twice, for leadTokens and for
// leadTokens+DecodeTokens tokens, and divides the extra tokens by the extra
// time: prefill, start-up and the reader's wake-up latency cancel out, leaving
// steady-state decode steps. The median over DecodeReps is reported, so that
// one repetition slowed by another process on the host does not decide it.
// between runs before each repetition and after the last.
func decode(ctx context.Context, o Options, eng *engine.Engine, prompts [][]int32, between func()) (float64, error) {
	run := func(tokens int) (time.Duration, error) {
		reqs := make([]engine.Request, len(prompts))
		for i, p := range prompts {
			reqs[i] = request(p, tokens)
		}
		_, d, err := generate(ctx, eng, reqs)
		return d, err
	}
	if _, err := run(leadTokens); err != nil { // warm-up
		return 0, err
	}
	var rates []float64
	var lastLong time.Duration
	for rep := range o.DecodeReps {
		between()
		short, err := run(leadTokens)
		if err != nil {
			return 0, err
		}
		var long time.Duration
		phase := func() error {
			long, err = run(leadTokens + o.DecodeTokens)
			return err
		}
		if rep == 0 { // profile one long run: decode steps only
			err = profiled(o.CPUProfile, fmt.Sprintf("decode%d", len(prompts)), phase)
		} else {
			err = phase()
		}
		if err != nil {
			return 0, err
		}
		lastLong = long
		if long > short { // else noise swamped this repetition
			rates = append(rates, float64(len(prompts)*o.DecodeTokens)/(long-short).Seconds())
		}
	}
	between()
	if len(rates) == 0 { // noise swamped every repetition: the long pass's overall rate, a lower bound
		return float64(len(prompts)*(leadTokens+o.DecodeTokens)) / lastLong.Seconds(), nil
	}
	slices.Sort(rates)
	return rates[len(rates)/2], nil
}

var profileMu sync.Mutex

// profiled runs fn under the CPU profiler when prefix is set.
func profiled(prefix, phase string, fn func() error) error {
	if prefix == "" {
		return fn()
	}
	profileMu.Lock()
	defer profileMu.Unlock()
	f, err := os.Create(prefix + "-" + phase + ".pprof")
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	err = fn()
	pprof.StopCPUProfile()
	return err
}

// checkHF loads the safetensors copy, times it and records its greedy tokens,
// which must equal the GGUF copy's.
func checkHF(ctx context.Context, o Options, w workload, r *Report) error {
	fmt.Fprintln(o.Log, "loading the safetensors copy into Graft")
	b, err := newCPU(o.Threads, o.QuantActivations, o.NoRepack)
	if err != nil {
		return err
	}
	defer b.Close()
	start := time.Now()
	l, err := engine.Load(r.Files.HF, b)
	if err != nil {
		return err
	}
	defer l.Close()
	r.LoadHF = time.Since(start)
	eng, err := engine.New(l, engine.Config{MaxNumSeqs: 1, KVCacheDtype: o.KVCacheDtype})
	if err != nil {
		return err
	}
	defer eng.Close()
	r.Greedy.HF, err = greedy(ctx, eng, w.greedy, o.GreedyTokens)
	return err
}
