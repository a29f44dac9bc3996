package train

import (
	"context"
	"os"
	"strconv"
	"testing"
)

// BenchmarkTrain110M times training steps of the random 110M Llama; it needs
// GRAFT_BENCH_TRAIN_DIR (a directory to keep the 440 MB model in) to run;
// GRAFT_BENCH_THREADS sets the threads (default 1).
func BenchmarkTrain110M(b *testing.B) {
	dir := os.Getenv("GRAFT_BENCH_TRAIN_DIR")
	if dir == "" {
		b.Skip("set GRAFT_BENCH_TRAIN_DIR to a directory for the random 110M model")
	}
	threads, _ := strconv.Atoi(os.Getenv("GRAFT_BENCH_THREADS")) // 0: all cores
	r, err := Bench(context.Background(), BenchOptions{Dir: dir, Threads: max(threads, 1), Seq: 256, Batch: 2, Steps: b.N, NoPEFT: true})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.Graft, "tokens/s")
	b.ReportMetric(r.GraftCPU, "tokens/cpu-s")
}
