package kernel

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestPoolCoversEachIndexOnce(t *testing.T) {
	for _, size := range []int{0, 1, 2, 5} {
		p := NewPool(size)
		for _, n := range []int{0, 1, 2, 7, 100, 1000} {
			hits := make([]int32, n)
			for rep := 0; rep < 50; rep++ {
				p.Run(n, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						atomic.AddInt32(&hits[i], 1)
					}
				})
			}
			for i, h := range hits {
				if h != 50 {
					t.Fatalf("pool %d, n=%d: index %d ran %d times in 50 runs", size, n, i, h)
				}
			}
		}
		p.Close()
	}
}

func TestPoolConcurrentCallers(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	var wg sync.WaitGroup
	var total atomic.Int64
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				p.Run(64, func(lo, hi int) { total.Add(int64(hi - lo)) })
			}
		}()
	}
	wg.Wait()
	if got := total.Load(); got != 4*200*64 {
		t.Fatalf("covered %d indices, want %d", got, 4*200*64)
	}
}

func TestPoolRunNoAlloc(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	var sink atomic.Int64
	fn := func(lo, hi int) { sink.Add(int64(hi - lo)) }
	if n := testing.AllocsPerRun(100, func() { p.Run(100, fn) }); n != 0 {
		t.Fatalf("Run allocates %v times per call", n)
	}
}
