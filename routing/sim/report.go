package sim

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints results as an aligned table, one row per policy and
// scenario.
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "replicas\tadapters\tarrivals\tpolicy\treq/s\ttok/s\tTTFT p50\tTTFT p99\te2e p50\te2e p99\tloads/1k\tremote/1k\twaited load\timbalance\tunfinished\twall\t")
	for _, r := range rs {
		arr := "poisson"
		if r.Bursty {
			arr = "on/off"
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%.2f\t%.0f\t%.2fs\t%.2fs\t%.1fs\t%.1fs\t%.0f\t%.0f\t%.1f%%\t%.2f\t%d\t%.1fs\t\n",
			r.Replicas, r.Adapters, arr, r.Policy, r.Throughput, r.TokensPerSec, r.TTFT50, r.TTFT99, r.E2E50, r.E2E99,
			r.LoadsPer1k, r.RemoteLoadsPer1k, 100*r.WaitedLoad, r.Imbalance, r.Unfinished, r.Wall.Seconds())
	}
	return tw.Flush()
}
