package train

import (
	"sync"

	"github.com/graft-ai/graft/engine/kernel"
)

// packs recycles panel buffers: allocating them per call made enough
// garbage for the collector's preemptions to show in profiles.
var packs = sync.Pool{New: func() any { return new([]float32) }}

// gemm sets out[r, j] = Σ_t x[r, t]·b[t, j] for r < rows, j < n, t < k: x is
// [rows, k] and b is [k, n], row-major. Unlike kernel.MatMul (dot products,
// batch-invariant by design, which training does not need) it runs an
// outer-product register tile, several times faster on AVX2. Work is split
// over 16-column panels across p.
func gemm(p *kernel.Pool, out, x, b []float32, rows, k, n int) {
	_, _, _ = out[:rows*n], x[:rows*k], b[:k*n]
	panels := (n + gemmCols - 1) / gemmCols
	parallel(p, panels, func(lo, hi int) {
		// The panel is packed contiguous: read in place, its k rows n floats
		// apart would each touch another page.
		pp := packs.Get().(*[]float32)
		defer packs.Put(pp)
		if cap(*pp) < k*gemmCols {
			*pp = make([]float32, k*gemmCols)
		}
		pack := (*pp)[:k*gemmCols]
		for pn := lo; pn < hi; pn++ {
			j0 := pn * gemmCols
			if j0+gemmCols > n {
				gemmTail(out, x, b, rows, k, n, j0)
				continue
			}
			for t := 0; t < k; t++ {
				copy(pack[t*gemmCols:(t+1)*gemmCols], b[t*n+j0:t*n+j0+gemmCols])
			}
			r := 0
			for ; r+gemmRows <= rows; r += gemmRows {
				gemmTile(out[r*n+j0:], n, x[r*k:], k, pack, gemmCols, k)
			}
			for ; r < rows; r++ {
				gemmRow(out[r*n+j0:], x[r*k:], k, pack, gemmCols, k)
			}
		}
	})
}

// gemmTail computes columns j0..n-1 (fewer than a panel) with plain loops.
func gemmTail(out, x, b []float32, rows, k, n, j0 int) {
	for r := 0; r < rows; r++ {
		o := out[r*n : (r+1)*n]
		for j := j0; j < n; j++ {
			o[j] = 0
		}
		for t, xv := range x[r*k : (r+1)*k] {
			bt := b[t*n : (t+1)*n]
			for j := j0; j < n; j++ {
				o[j] += xv * bt[j]
			}
		}
	}
}

// gemmRowGo is one row of one panel, portable.
func gemmRowGo(out, x []float32, _ int, b []float32, ldb, k int) {
	var acc [gemmCols]float32
	for t := 0; t < k; t++ {
		xv, bt := x[t], b[t*ldb:t*ldb+gemmCols]
		for j := range acc {
			acc[j] += xv * bt[j]
		}
	}
	copy(out[:gemmCols], acc[:])
}

// gemmTileGo is gemmRows rows of one panel, portable.
func gemmTileGo(out []float32, ldo int, x []float32, ldx int, b []float32, ldb, k int) {
	for r := 0; r < gemmRows; r++ {
		gemmRowGo(out[r*ldo:], x[r*ldx:], ldx, b, ldb, k)
	}
}
