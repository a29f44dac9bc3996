package benchmark

import (
	"fmt"
	"io"
)

// Agreement returns, per agreement prompt, how many greedy tokens Graft and
// llama.cpp produce before their first difference.
func (w *WeightRun) Agreement() []int {
	if w.LlamaCpp == nil {
		return nil
	}
	out := make([]int, len(w.Greedy))
	for i, g := range w.Greedy {
		l := w.llamaGreedy(i)
		for out[i] < min(len(g), len(l)) && g[out[i]] == l[out[i]] {
			out[i]++
		}
	}
	return out
}

func (w *WeightRun) llamaGreedy(prompt int) []int32 {
	if prompt < len(w.LlamaCpp.GreedyAll) {
		return w.LlamaCpp.GreedyAll[prompt]
	}
	return nil
}

// Divergence is where Graft's greedy tokens first leave llama.cpp's on one
// prompt, seen from Graft's side: how far llama.cpp's choice is below
// Graft's in Graft's own logits. Both engines quantize the activations to
// 8 bits, each in its own order and grouping, which moves every logit a
// little (TestInt8Activations: about 2-3% of their RMS against a float64
// pass); a gap of that order is a near tie either engine may break its own
// way, while a bug would put llama.cpp's token far down Graft's list.
type Divergence struct {
	Prompt, Step int
	Graft, Llama int32
	Rank         int     // llama.cpp's token among Graft's likeliest, 1-based; 0 when not among them
	Gap          float32 // Graft's logit of its token less llama.cpp's (logprobs share the normalizer)
	Alternatives int     // how many alternatives Graft listed
}

// Divergences lists the first difference of each prompt whose tokens
// differ before the end.
func (w *WeightRun) Divergences() []Divergence {
	var out []Divergence
	for i, n := range w.Agreement() {
		g, l := w.Greedy[i], w.llamaGreedy(i)
		if n >= min(len(g), len(l)) {
			continue
		}
		d := Divergence{Prompt: i, Step: n, Graft: g[n], Llama: l[n]}
		if i < len(w.Top) && n < len(w.Top[i]) {
			top := w.Top[i][n]
			d.Alternatives = len(top)
			for r, t := range top {
				if t.Token == d.Llama {
					d.Rank, d.Gap = r+1, top[0].Logprob-t.Logprob
				}
			}
		}
		out = append(out, d)
	}
	return out
}

// printDivergences writes one line per early difference from llama.cpp.
func (r *Report) printDivergences(w io.Writer) {
	for _, wr := range r.Weights {
		if wr.LlamaCpp == nil {
			continue
		}
		for _, d := range wr.Divergences() {
			fmt.Fprintf(w, "%s, prompt %d, token %d: llama.cpp took %d, Graft %d; ", wr.Name, d.Prompt+1, d.Step+1, d.Llama, d.Graft)
			if d.Rank == 0 {
				fmt.Fprintf(w, "llama.cpp's token is not among Graft's %d likeliest\n", d.Alternatives)
				continue
			}
			fmt.Fprintf(w, "it is Graft's choice #%d, %.4f below Graft's in Graft's logits\n", d.Rank, d.Gap)
		}
	}
}
