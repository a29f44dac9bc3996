package benchmark

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// printWeights writes one row per weight format: Graft's rates, llama.cpp's
// on the same file and their ratio (G/L), the single-stream bandwidth bound
// and the share of it reached, peak RSS, and greedy agreement.
func (r *Report) printWeights(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"weights", "file MB", "MB/tok", "bound", "prefill G", "L", "G/L"}
	for _, n := range r.Weights[0].decodeStreams() {
		head = append(head, fmt.Sprintf("dec%d G", n), "L", "G/L")
	}
	head = append(head, "dec1 %bound", "RSS G MiB", "G-bin", "budget", "L MiB", "agree")
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, wr := range r.Weights {
		var lp float64
		if wr.LlamaCpp != nil {
			lp = wr.LlamaCpp.Prefill
		}
		cells := []string{wr.Name, mb(wr.FileBytes), mb(wr.DecodeBytes), fmt.Sprintf("%.1f", wr.DecodeBound)}
		cells = append(cells, rates(wr.Prefill, lp)...)
		for _, d := range wr.Decode {
			var l float64
			if wr.LlamaCpp != nil {
				l = wr.LlamaCpp.DecodeAt(d.Streams)
			}
			cells = append(cells, rates(d.TokS, l)...)
		}
		pct := "-"
		if wr.DecodeBound > 0 {
			pct = fmt.Sprintf("%.0f%%", 100*wr.DecodeAt(1)/wr.DecodeBound)
		}
		lrss, agree := "-", "-"
		if wr.LlamaCpp != nil {
			lrss = fmt.Sprintf("%.0f", float64(wr.LlamaCpp.PeakRSS)/(1<<20))
			var a []string
			for _, n := range wr.Agreement() {
				a = append(a, fmt.Sprint(n))
			}
			agree = strings.Join(a, ",") + fmt.Sprintf("/%d", len(wr.Greedy[0]))
		}
		mib := func(b int64) string { return fmt.Sprintf("%.0f", float64(b)/(1<<20)) }
		cells = append(cells, pct, mib(wr.PeakRSS), mib(wr.PeakRSS-r.BinaryRSS), mib(wr.RSSBudget()), lrss, agree)
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	tw.Flush()
	r.printBounds(w)
	fmt.Fprintln(w, "G: Graft, L: llama.cpp (node-llama-cpp) on the same file, threads and prompts; RSS: peak resident set of each")
	fmt.Fprintf(w, "G-bin: Graft's peak RSS less the graft executable's own resident pages (%.0f MiB before any model loads);\n", float64(r.BinaryRSS)/(1<<20))
	fmt.Fprintln(w, "budget: the goal for it, file size + the KV cache it was given (for the most streams) + 20%")
	fmt.Fprintln(w, "agree: greedy tokens equal to llama.cpp's before the first difference, per prompt / tokens generated")
	r.printDivergences(w)
	if r.Rounds > 1 {
		fmt.Fprintf(w, "rates are medians of %d rounds, each measuring Graft and then llama.cpp; peak RSS the highest of them\n", r.Rounds)
	}
	fmt.Fprintln(w, "goals: dec1 >= 1.0x llama.cpp and >= 85% of the bound, dec32 >= 1.5x, prefill >= 1.0x")
}

// RSSBudget is the bound on peak RSS: (file + KV cache) × 1.2.
func (w *WeightRun) RSSBudget() int64 { return (w.FileBytes + w.KVBytes) * 6 / 5 }

func (w *WeightRun) decodeStreams() []int {
	var out []int
	for _, d := range w.Decode {
		out = append(out, d.Streams)
	}
	return out
}

func mb(b int64) string { return fmt.Sprintf("%.1f", float64(b)/1e6) }

func rates(g, l float64) []string {
	if l == 0 {
		return []string{fmt.Sprintf("%.1f", g), "-", "-"}
	}
	return []string{fmt.Sprintf("%.1f", g), fmt.Sprintf("%.1f", l), fmt.Sprintf("%.2fx", g/l)}
}

// printBounds says what read bandwidth each format's bound is from: its own
// passes, taken between its single-stream decode repetitions, where there
// are any.
func (r *Report) printBounds(w io.Writer) {
	fmt.Fprintln(w, "\nbound: tok/s one stream could reach reading MB/tok at the read bandwidth (GB/s) of")
	for _, wr := range r.Weights {
		fmt.Fprintf(w, "  %s: %.1f %s\n", wr.Name, wr.DecodeBound*float64(wr.DecodeBytes)/1e9, r.passesNote(wr.Bandwidth))
	}
}
