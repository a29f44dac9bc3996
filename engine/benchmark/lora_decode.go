package benchmark

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/graft-ai/graft/engine"
)

// schedule runs one pass of the streams, each making tokens tokens; run
// numbers the pass so that adapters can rotate between passes.
type schedule func(ctx context.Context, run, tokens int) (time.Duration, error)

func measureLoRA(ctx context.Context, o LoRAOptions, eng *engine.Engine) (*LoRAReport, error) {
	r := &LoRAReport{Time: time.Now(), Spec: *o.Spec, Threads: o.Threads, Rank: o.Rank, Streams: o.Streams, MaxActive: o.MaxActive, Weights: o.Weights, Rounds: o.Rounds, AdapterDType: o.AdapterDType}
	prompts := newWorkload(Options{Spec: o.Spec, Batches: []int{o.Streams}, DecodePrompt: o.DecodePrompt}).prompts
	// Each round measures the base and every row in turn, so that a host
	// whose speed drifts (a shared VM) moves both sides of a ratio alike;
	// the report takes each rate's median and each ratio's median over the
	// rounds.
	var bases []float64
	batchedRates := make([][]float64, len(o.Adapters))
	seqRates := make([][]float64, len(o.Adapters))
	ratios := make([][]float64, len(o.Adapters))
	for round := range o.Rounds {
		profile := round == 0
		fmt.Fprintf(o.Log, "round %d of %d: decode: %d streams, base model\n", round+1, o.Rounds, o.Streams)
		base, err := loraRate(ctx, o, "base", profile, 1, batched(eng, prompts, 0))
		if err != nil {
			return nil, err
		}
		bases = append(bases, base)
		for i, k := range o.Adapters {
			fmt.Fprintf(o.Log, "round %d of %d: decode: %d streams over %d adapters, batched\n", round+1, o.Rounds, o.Streams, k)
			rate, err := loraRate(ctx, o, fmt.Sprintf("lora%d", k), profile, k, batched(eng, prompts, k))
			if err != nil {
				return nil, err
			}
			batchedRates[i] = append(batchedRates[i], rate)
			ratios[i] = append(ratios[i], rate/base)
			if o.Sequential {
				fmt.Fprintf(o.Log, "round %d of %d: decode: %d streams over %d adapters, one adapter's batch at a time\n", round+1, o.Rounds, o.Streams, k)
				rate, err := loraRate(ctx, o, fmt.Sprintf("sequential%d", k), false, k, sequential(eng, prompts, k))
				if err != nil {
					return nil, err
				}
				seqRates[i] = append(seqRates[i], rate)
			}
		}
	}
	r.Base = medianOf(bases)
	for i, k := range o.Adapters {
		r.Rows = append(r.Rows, LoRARow{Adapters: k, Batched: medianOf(batchedRates[i]), Ratio: medianOf(ratios[i]),
			Sequential: medianOf(seqRates[i])})
	}
	return r, nil
}

// medianOf is the median of xs (the mean of the middle two when even), or
// 0 when there is none.
func medianOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// streamAdapter is the adapter of stream i in pass run: over successive passes
// the streams cycle through all k adapters, so k may exceed the streams.
func streamAdapter(run, i, streams, k int) string {
	if k == 0 {
		return ""
	}
	return adapterID((run*streams + i) % k)
}

// batched submits every stream at once, as a server sees concurrent requests.
func batched(eng *engine.Engine, prompts [][]int32, k int) schedule {
	return func(ctx context.Context, run, tokens int) (time.Duration, error) {
		reqs := make([]engine.Request, len(prompts))
		for i, p := range prompts {
			reqs[i] = request(p, tokens)
			reqs[i].Adapter = streamAdapter(run, i, len(prompts), k)
		}
		_, d, err := generate(ctx, eng, reqs)
		return d, err
	}
}

// sequential runs each adapter's streams as their own batch, one adapter after
// another: what an engine that batches only within one adapter can do.
func sequential(eng *engine.Engine, prompts [][]int32, k int) schedule {
	return func(ctx context.Context, run, tokens int) (time.Duration, error) {
		groups := map[string][]engine.Request{}
		var order []string
		for i, p := range prompts {
			id := streamAdapter(run, i, len(prompts), k)
			if groups[id] == nil {
				order = append(order, id)
			}
			req := request(p, tokens)
			req.Adapter = id
			groups[id] = append(groups[id], req)
		}
		var total time.Duration
		for _, id := range order {
			_, d, err := generate(ctx, eng, groups[id])
			if err != nil {
				return 0, err
			}
			total += d
		}
		return total, nil
	}
}

// loraRate is decode's difference method for a schedule: after enough warm-up
// passes to bring all k adapters into slots, it times a pass of leadTokens and
// one of leadTokens+DecodeTokens and divides the extra tokens by the extra time.
func loraRate(ctx context.Context, o LoRAOptions, phase string, profile bool, k int, s schedule) (float64, error) {
	run := 0
	for ; run*o.Streams < k || run == 0; run++ {
		if _, err := s(ctx, run, leadTokens); err != nil {
			return 0, err
		}
	}
	prefix := o.CPUProfile
	if !profile {
		prefix = ""
	}
	// Noise can make the longer pass finish first on a tiny model or a busy
	// machine: try again, and in the end fall back to the long pass's overall
	// rate (a lower bound, as it includes the prompt).
	var short, long time.Duration
	for attempt := 0; attempt < 3; attempt++ {
		var err error
		if short, err = s(ctx, run, leadTokens); err != nil {
			return 0, err
		}
		err = profiled(prefix, phase, func() error {
			long, err = s(ctx, run+1, leadTokens+o.DecodeTokens)
			return err
		})
		if err != nil {
			return 0, err
		}
		if long > short {
			return float64(o.Streams*o.DecodeTokens) / (long - short).Seconds(), nil
		}
		prefix = "" // profile once
	}
	return float64(o.Streams*(leadTokens+o.DecodeTokens)) / long.Seconds(), nil
}
