package benchmark

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/randmodel"
)

// Shared-prefix workload: a system prompt every request starts with, a
// question of its own, a few tokens generated.
const (
	systemPromptTokens = 1000
	questionTokens     = 16
	prefixOutputTokens = 4
)

// PrefixReport compares N requests sharing a system prompt run with and
// without the prefix cache, on the same model in the same process.
type PrefixReport struct {
	Spec                   randmodel.Spec
	Threads                int
	Requests, PromptTokens int
	// Off runs without the cache; Cold with it, the system prompt new to the
	// engine (the burst computes it once); On with it, after one request
	// with the same system prompt (the steady state of a served prompt).
	Off, Cold, On PrefixRun
	// Same says every run generated the same tokens for every request.
	Same bool
}

// PrefixRun is one pass over the requests, all submitted at once.
type PrefixRun struct {
	MeanTTFT, MedianTTFT, MaxTTFT time.Duration
	// PrefillTokS is the requests' prompt tokens over the time until the last
	// first token: what clients see as prefill throughput.
	PrefillTokS float64
	// Computed and Cached are the prompt tokens the engine ran through the
	// model and those it took from the cache.
	Computed, Cached uint64
	tokens           [][]int32
}

// RunSharedPrefix writes (or reuses) the benchmark model and runs n requests
// that share a 1,000-token system prompt, first with prefix caching off, then on.
func RunSharedPrefix(ctx context.Context, o Options, n int) (*PrefixReport, error) {
	o.defaults()
	if n <= 0 {
		return nil, fmt.Errorf("benchmark: --shared-prefix needs at least 1 request, got %d", n)
	}
	if need := systemPromptTokens + questionTokens + prefixOutputTokens; need > o.Spec.MaxPositions {
		return nil, fmt.Errorf("benchmark: the shared-prefix prompts need %d positions; the model has %d", need, o.Spec.MaxPositions)
	}
	dir, cleanup, err := cacheDir(o.Dir)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	files, err := writeModel(dir, *o.Spec, o.Log)
	if err != nil {
		return nil, err
	}
	b, err := newCPU(o.Threads, o.QuantActivations, o.NoRepack)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	l, err := engine.Load(files.GGUF, b)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	reqs := sharedPrefixRequests(o, n)
	r := &PrefixReport{Spec: *o.Spec, Threads: o.Threads, Requests: n, PromptTokens: len(reqs[0].Prompt)}
	for _, run := range []struct {
		name      string
		off, warm bool
		dst       *PrefixRun
	}{{"off", true, true, &r.Off}, {"on, cold", false, false, &r.Cold}, {"on, warm", false, true, &r.On}} {
		fmt.Fprintf(o.Log, "%d shared-prefix requests, prefix caching %s\n", n, run.name)
		if *run.dst, err = prefixRun(ctx, l, o.KVCacheDtype, reqs, run.off, run.warm); err != nil {
			return nil, err
		}
	}
	r.Same = slices.EqualFunc(r.Off.tokens, r.On.tokens, slices.Equal) && slices.EqualFunc(r.Off.tokens, r.Cold.tokens, slices.Equal)
	return r, nil
}

func sharedPrefixRequests(o Options, n int) []engine.Request {
	rng := rand.New(rand.NewPCG(o.Spec.Seed, 0x707265666978))
	random := func(p []int32, n int) []int32 {
		for range n {
			p = append(p, int32(3+rng.IntN(o.Spec.Vocab-3)))
		}
		return p
	}
	system := random([]int32{randmodel.BOS}, systemPromptTokens-1)
	reqs := make([]engine.Request, n)
	for i := range reqs {
		reqs[i] = request(random(slices.Clone(system), questionTokens), prefixOutputTokens)
	}
	return reqs
}

// prefixRun runs the requests on a fresh engine and times each one's first
// token. With warm, one request with the system prompt and a question of its
// own runs first, untimed, as traffic before them would have: with the cache,
// the system prompt is then cached. The timed requests are submitted all at
// once.
func prefixRun(ctx context.Context, l *engine.Loaded, kvDtype string, reqs []engine.Request, cacheOff, warm bool) (PrefixRun, error) {
	c := &l.Model.Config
	dtype, err := l.Model.KVCacheDtype(kvDtype)
	if err != nil {
		return PrefixRun{}, err
	}
	const block = 16
	perSeq := (len(reqs[0].Prompt) + prefixOutputTokens + block) / block * block
	eng, err := engine.New(l, engine.Config{MaxNumSeqs: len(reqs), MaxBatchedTokens: 512, BlockSize: block,
		KVCacheBytes:         int64(max(len(reqs)*perSeq, c.MaxPositions+block)) * c.KVBytesPerToken(dtype),
		DisablePrefixCaching: cacheOff, KVCacheDtype: dtype})
	if err != nil {
		return PrefixRun{}, err
	}
	defer eng.Close()
	if warm {
		w := reqs[0]
		w.Prompt = slices.Clone(w.Prompt)
		slices.Reverse(w.Prompt[systemPromptTokens:]) // a question no timed request asks
		if _, _, err := generate(ctx, eng, []engine.Request{w}); err != nil {
			return PrefixRun{}, err
		}
	}
	before := eng.Stats()
	ttft := make([]time.Duration, len(reqs))
	run := PrefixRun{tokens: make([][]int32, len(reqs))}
	errs := make([]error, len(reqs))
	start := time.Now()
	var wg sync.WaitGroup
	for i, req := range reqs {
		s, err := eng.Generate(ctx, req)
		if err != nil {
			return PrefixRun{}, err
		}
		wg.Go(func() { ttft[i], run.tokens[i], errs[i] = firstToken(ctx, s, start) })
	}
	wg.Wait()
	if err := firstError(errs); err != nil {
		return PrefixRun{}, err
	}
	st := eng.Stats()
	run.Computed, run.Cached = st.PrefillTokens-before.PrefillTokens, st.PrefixCacheHits-before.PrefixCacheHits
	var sum time.Duration
	for _, d := range ttft {
		sum += d
	}
	sorted := slices.Clone(ttft)
	slices.Sort(sorted)
	run.MeanTTFT, run.MedianTTFT, run.MaxTTFT = sum/time.Duration(len(ttft)), sorted[len(sorted)/2], sorted[len(sorted)-1]
	run.PrefillTokS = float64(len(reqs)*len(reqs[0].Prompt)) / run.MaxTTFT.Seconds()
	return run, ctx.Err()
}

// firstToken reads a stream to its end and returns when its first token came
// (since start) and all its tokens.
func firstToken(ctx context.Context, s *engine.Stream, start time.Time) (time.Duration, []int32, error) {
	var first time.Duration
	var ids []int32
	for {
		ev, ok := s.Next(ctx)
		if !ok {
			return 0, nil, ctx.Err()
		}
		if len(ev.Tokens) > 0 && first == 0 {
			first = time.Since(start)
		}
		for _, t := range ev.Tokens {
			ids = append(ids, t.ID)
		}
		if ev.Err != nil {
			return 0, nil, ev.Err
		}
		if ev.Finish != "" {
			return first, ids, nil
		}
	}
}

func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Print writes the comparison table with cache-on/cache-off ratios.
func (r *PrefixReport) Print(w io.Writer) {
	fmt.Fprintf(w, "shared prefix: %d requests at once, each a %d-token system prompt + %d tokens of its own (%d in all), %d generated\n",
		r.Requests, systemPromptTokens, questionTokens, r.PromptTokens, prefixOutputTokens)
	fmt.Fprintln(w, "cold: the system prompt is new to the engine; warm: one request with it ran before (untimed)")
	fmt.Fprintf(w, "model: random Llama dim %d, %d layers, vocab %d; %d threads\n\n", r.Spec.Dim, r.Spec.Layers, r.Spec.Vocab, r.Threads)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tcache off\ton, cold\ton/off\ton, warm\ton/off\t")
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
	ratio := func(on, off float64) string { return fmt.Sprintf("%.2fx", on/off) }
	runs := []PrefixRun{r.Off, r.Cold, r.On}
	for _, row := range []struct {
		name string
		get  func(PrefixRun) time.Duration
	}{
		{"mean TTFT", func(p PrefixRun) time.Duration { return p.MeanTTFT }},
		{"median TTFT", func(p PrefixRun) time.Duration { return p.MedianTTFT }},
		{"max TTFT", func(p PrefixRun) time.Duration { return p.MaxTTFT }},
	} {
		off := float64(row.get(r.Off))
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", row.name, ms(row.get(runs[0])),
			ms(row.get(runs[1])), ratio(float64(row.get(runs[1])), off), ms(row.get(runs[2])), ratio(float64(row.get(runs[2])), off))
	}
	fmt.Fprintf(tw, "prefill tok/s\t%.0f\t%.0f\t%s\t%.0f\t%s\t\n", r.Off.PrefillTokS, r.Cold.PrefillTokS,
		ratio(r.Cold.PrefillTokS, r.Off.PrefillTokS), r.On.PrefillTokS, ratio(r.On.PrefillTokS, r.Off.PrefillTokS))
	fmt.Fprintf(tw, "prompt tokens computed\t%d\t%d\t\t%d\t\t\n", r.Off.Computed, r.Cold.Computed, r.On.Computed)
	fmt.Fprintf(tw, "prompt tokens from cache\t%d\t%d\t\t%d\t\t\n", r.Off.Cached, r.Cold.Cached, r.On.Cached)
	tw.Flush()
	same := "yes"
	if !r.Same {
		same = "NO: the cache changed the outputs"
	}
	fmt.Fprintf(w, "\nsame tokens with and without the cache: %s\n", same)
}
