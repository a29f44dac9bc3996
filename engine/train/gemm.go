package train

import (
	"sync"

	"github.com/graft-ai/graft/engine/kernel"
)

// packs recycles panel buffers: allocating them per call made enough
// garbage for the collector's preemptions to show in profiles.
var packs = sync.Pool{New: func() any { return new([]float32) }}

// gemmKC, gemmGroup and gemmMC block the product for the caches (the BLIS
// loop order): a group of up to gemmGroup panels is packed gemmKC rows of b
// at a time (128 KiB, in L2); each packed panel (16 KiB) stays in L1 while
// the 6-row strips of a packed block of gemmMC rows of x (120 KiB, in L2)
// run through it. Streaming all of x from L3 once per 16-column panel, as a
// plain panel loop does, made two threads contend for the shared cache. The
// blocks do not depend on the thread count, so neither do the sums.
const gemmKC, gemmGroup, gemmMC = 256, 8, 120

// gemm sets out[r, j] = Σ_t x[r, t]·b[t, j] for r < rows, j < n, t < k: x is
// [rows, k] and b is [k, n], row-major. Unlike kernel.MatMul (dot products,
// batch-invariant by design, which training does not need) it runs an
// outer-product register tile, several times faster on AVX2. Work is split
// over groups of 16-column panels across p.
func gemm(p *kernel.Pool, out, x, b []float32, rows, k, n int) {
	_, _, _ = out[:rows*n], x[:rows*k], b[:k*n]
	panels := (n + gemmCols - 1) / gemmCols
	groups := (panels + gemmGroup - 1) / gemmGroup
	parallel(p, groups, func(lo, hi int) {
		pp := packs.Get().(*[]float32)
		defer packs.Put(pp)
		const bSize = gemmKC * gemmGroup * gemmCols
		if cap(*pp) < bSize+gemmKC*gemmMC {
			*pp = make([]float32, bSize+gemmKC*gemmMC)
		}
		buf := *pp
		for g := lo; g < hi; g++ {
			gemmGroupCols(out, x, b, rows, k, n, g*gemmGroup, min((g+1)*gemmGroup, panels), buf[:bSize], buf[bSize:])
		}
	})
}

// gemmGroupCols computes the panels p0..p1-1 of out, packing each slice of
// gemmKC rows of their columns of b contiguous into pb (read in place, rows
// n floats apart would each touch another page) and blocks of x into px
// (rows k floats apart collide in the cache's sets).
func gemmGroupCols(out, x, b []float32, rows, k, n, p0, p1 int, pb, px []float32) {
	if p1*gemmCols > n { // a last panel narrower than 16: plain loops
		p1--
		gemmTail(out, x, b, rows, k, n, p1*gemmCols)
	}
	np := p1 - p0
	if np <= 0 {
		return
	}
	if k == 0 {
		for r := 0; r < rows; r++ {
			clear(out[r*n+p0*gemmCols : r*n+p1*gemmCols])
		}
		return
	}
	for k0 := 0; k0 < k; k0 += gemmKC {
		kc, acc := min(gemmKC, k-k0), k0 > 0
		for i := 0; i < np; i++ {
			j0, pk := (p0+i)*gemmCols, pb[i*kc*gemmCols:(i+1)*kc*gemmCols]
			for t := 0; t < kc; t++ {
				copy(pk[t*gemmCols:(t+1)*gemmCols], b[(k0+t)*n+j0:(k0+t)*n+j0+gemmCols])
			}
		}
		for r0 := 0; r0 < rows; r0 += gemmMC {
			r1 := min(r0+gemmMC, rows)
			for r := r0; r < r1; r++ {
				copy(px[(r-r0)*kc:(r-r0+1)*kc], x[r*k+k0:r*k+k0+kc])
			}
			for i := 0; i < np; i++ {
				o, pk := out[(p0+i)*gemmCols:], pb[i*kc*gemmCols:]
				r := r0
				for ; r+gemmRows <= r1; r += gemmRows {
					gemmTile(o[r*n:], n, px[(r-r0)*kc:], kc, pk, gemmCols, kc, acc)
				}
				for ; r < r1; r++ {
					gemmRow(o[r*n:], px[(r-r0)*kc:], kc, pk, gemmCols, kc, acc)
				}
			}
		}
	}
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

// gemmRowGo is one row of one panel, portable; with add set the row is
// added to out.
func gemmRowGo(out, x []float32, _ int, b []float32, ldb, k int, add bool) {
	var acc [gemmCols]float32
	if add {
		copy(acc[:], out[:gemmCols])
	}
	for t := 0; t < k; t++ {
		xv, bt := x[t], b[t*ldb:t*ldb+gemmCols]
		for j := range acc {
			acc[j] += xv * bt[j]
		}
	}
	copy(out[:gemmCols], acc[:])
}

// gemmTileGo is gemmRows rows of one panel, portable.
func gemmTileGo(out []float32, ldo int, x []float32, ldx int, b []float32, ldb, k int, add bool) {
	for r := 0; r < gemmRows; r++ {
		gemmRowGo(out[r*ldo:], x[r*ldx:], ldx, b, ldb, k, add)
	}
}
