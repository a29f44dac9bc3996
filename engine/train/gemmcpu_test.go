package train

import (
	"syscall"
	"testing"
	"time"

	"github.com/graft-ai/graft/engine/kernel"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestGemmCPU(t *testing.T) {
	for _, s := range [][3]int{{512, 768, 768}, {512, 768, 2048}, {512, 2048, 768}} {
		rows, k, n := s[0], s[1], s[2]
		x, wT, out := make([]float32, rows*k), make([]float32, n*k), make([]float32, rows*n)
		for i := range wT {
			wT[i] = float32(i%7) * 0.1
		}
		for i := range x {
			x[i] = float32(i%5) * 0.1
		}
		flops := float64(2*rows*k*n) * 10
		for _, th := range []int{1, 2} {
			p := kernel.NewPool(th)
			gemm(p, out, x, wT, rows, k, n)
			c0, w0 := cpuNow(), time.Now()
			for range 10 {
				gemm(p, out, x, wT, rows, k, n)
			}
			c, w := cpuNow()-c0, time.Since(w0)
			p.Close()
			t.Logf("%v threads %d: %.1f GFLOPS/cpu-s  %.1f GFLOPS wall", s, th, flops/c.Seconds()/1e9, flops/w.Seconds()/1e9)
		}
	}
}
