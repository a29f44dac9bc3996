package benchmark

import (
	"cmp"
	"fmt"
	"io"
	"text/tabwriter"
)

// LoRAGoal is Graft's target for 32 streams over 32 adapters, as a
// fraction of the base model's rate.
const LoRAGoal = 0.85

// Print writes the table: each rate and its ratio to the base-only rate.
func (r *LoRAReport) Print(w io.Writer) {
	s := r.Spec
	fmt.Fprintf(w, "graft bench lora  %s\n", r.Time.Format("2006-01-02 15:04"))
	fmt.Fprintf(w, "model: random %s dim %d, %d layers, FFN %d, vocab %d, %s weights; %d threads\n", s.Arch, s.Dim, s.Layers, s.FFN, s.Vocab, cmp.Or(r.Weights, "f32"), r.Threads)
	fmt.Fprintf(w, "adapters: rank %d on q,k,v,o,gate,up,down_proj, saved in %s; %d slots; %d concurrent streams\n\n", r.Rank, r.AdapterDType, r.MaxActive, r.Streams)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "adapters\tbatched tok/s\tratio\tsequential tok/s\tratio\tbatched/sequential\t")
	fmt.Fprintf(tw, "base\t%.1f\t1.00\t\t\t\t\n", r.Base)
	for _, row := range r.Rows {
		seq, seqRatio, speedup := "-", "-", "-"
		if row.Sequential > 0 {
			seq = fmt.Sprintf("%.1f", row.Sequential)
			seqRatio = fmt.Sprintf("%.2f", row.Sequential/r.Base)
			speedup = fmt.Sprintf("%.2fx", row.Batched/row.Sequential)
		}
		fmt.Fprintf(tw, "%d\t%.1f\t%.2f\t%s\t%s\t%s\t\n", row.Adapters, row.Batched, row.Ratio, seq, seqRatio, speedup)
	}
	tw.Flush()
	for _, row := range r.Rows {
		if row.Adapters == r.Streams {
			verdict := "meets"
			if row.Ratio < LoRAGoal {
				verdict = "misses"
			}
			fmt.Fprintf(w, "\n%d streams over %d adapters: %.2f of base-only, %s the goal of %.2f\n", r.Streams, row.Adapters, row.Ratio, verdict, LoRAGoal)
		}
	}
	if r.Rounds > 1 {
		fmt.Fprintf(w, "rates are medians of %d rounds, each measuring the base and every row in turn; a ratio is the median of each round's ratio to that round's base.\n", r.Rounds)
	}
	fmt.Fprintln(w, "ratios are to the base-only rate of the same run; the machine may be shared.")
}
