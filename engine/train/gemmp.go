package train

import "github.com/graft-ai/graft/engine/kernel"

// tileRows×panelW is the register tile of the micro-kernel; B is packed in
// panels panelW columns wide.
const tileRows, panelW = 6, 16

// kBlock bounds the k of one pass over the output: past it the product is
// accumulated in blocks, so that A's block is read from cache by every
// panel instead of from memory (the output layer's backward has k = vocab).
const kBlock = 2048

// packedB is a [k, n] right operand laid out for the micro-kernel: ⌈n/16⌉
// panels, each [k][16] contiguous, the last one padded with zeros.
type packedB struct {
	data []float32
	k, n int
}

func (b *packedB) panels() int { return (b.n + panelW - 1) / panelW }

func (b *packedB) panel(j int) []float32 { return b.data[j*b.k*panelW : (j+1)*b.k*panelW] }

func (b *packedB) resize(k, n int) {
	b.k, b.n = k, n
	size := (n + panelW - 1) / panelW * panelW * k
	if cap(b.data) < size {
		b.data = make([]float32, size)
	}
	b.data = b.data[:size]
}

// pack sets b to src, a [k, n] matrix with rows ld apart.
func (b *packedB) pack(src []float32, ld, k, n int) {
	b.resize(k, n)
	for j := 0; j < b.panels(); j++ {
		j0 := j * panelW
		w, pn := min(panelW, n-j0), b.panel(j)
		for t := 0; t < k; t++ {
			row, s := pn[t*panelW:(t+1)*panelW], src[t*ld+j0:]
			if w == panelW {
				copy16(row, s)
				continue
			}
			copy(row, s[:w])
			clear(row[w:])
		}
	}
}

// packT sets b to srcᵀ, where src is an [n, k] matrix with rows ld apart
// (PyTorch's [out, in] weights used as the [in, out] operand).
func (b *packedB) packT(src []float32, ld, k, n int) {
	b.resize(k, n)
	for j := 0; j < b.panels(); j++ {
		j0 := j * panelW
		w, pn := min(panelW, n-j0), b.panel(j)
		for jj := 0; jj < panelW; jj++ {
			if jj >= w {
				for t := 0; t < k; t++ {
					pn[t*panelW+jj] = 0
				}
				continue
			}
			s := src[(j0+jj)*ld : (j0+jj)*ld+k]
			for t, v := range s {
				pn[t*panelW+jj] = v
			}
		}
	}
}

// matA is a left operand read in place: element (r, t) at a[r·rs + t·ts].
// Rows of a matrix (rs = ld, ts = 1) give A·B; its columns (rs = 1, ts = ld)
// give Aᵀ·B with no transposed copy.
type matA struct {
	a      []float32
	rs, ts int
}

func rowsOf(a []float32, ld int) matA { return matA{a, ld, 1} }
func colsOf(a []float32, ld int) matA { return matA{a, 1, ld} }

// term is one product A·B of a sum.
type term struct {
	a matA
	b *packedB
}

// segment is k range [k0, k0+k) of one term.
type segment struct {
	t     *term
	k0, k int
}

// gemmSum sets out[r, j] (rows ldo apart) to Σ over terms of (A·B)[r, j] for
// r < rows, j < n, or adds it with acc. The terms' k are concatenated, so a
// LoRA pair rides along a frozen matmul at the cost of k+rank steps, and
// accumulating needs no temporary. Work is split over the pool by 16-column
// panels, and by row blocks when there are few panels.
func gemmSum(p *kernel.Pool, out []float32, ldo, rows, n int, acc bool, terms ...term) {
	gemmShaped(p, out, ldo, rows, n, acc, full, terms...)
}

// shape says which part of a product is wanted or nonzero, so that causal
// attention skips the half above the diagonal.
type shape int

const (
	full     shape = iota
	lowerOut       // only out[r, j] with j ≤ r is wanted; tiles wholly above are left unset
	lowerA         // A[r, t] = 0 for t > r
	upperA         // A[r, t] = 0 for t < r
)

// gemmShaped is gemmSum for a product of the given shape.
func gemmShaped(p *kernel.Pool, out []float32, ldo, rows, n int, acc bool, sh shape, terms ...term) {
	if rows == 0 || n == 0 {
		return
	}
	for i := range terms {
		if terms[i].b.n != n {
			panic("train: gemmSum terms of different widths")
		}
	}
	panels := (n + panelW - 1) / panelW
	rowBlock := rows
	if panels < 8 {
		rowBlock = 8 * tileRows
	}
	rowBlocks := (rows + rowBlock - 1) / rowBlock
	for i, blk := range kBlocks(terms) {
		accBlk := acc || i > 0
		parallel(p, panels*rowBlocks, func(lo, hi int) {
			for it := lo; it < hi; it++ {
				pn, rb := it/rowBlocks, it%rowBlocks
				r0 := rb * rowBlock
				gemmItem(out, ldo, rows, n, pn, r0, min(rows, r0+rowBlock), accBlk, sh, blk)
			}
		})
	}
}

// kBlocks cuts the terms' concatenated k into blocks of at most kBlock.
func kBlocks(terms []term) [][]segment {
	var blocks [][]segment
	var cur []segment
	room := kBlock
	for i := range terms {
		t := &terms[i]
		for k0 := 0; k0 < t.b.k || (k0 == 0 && t.b.k == 0); {
			if room == 0 {
				blocks, cur, room = append(blocks, cur), nil, kBlock
			}
			k := min(room, t.b.k-k0)
			cur = append(cur, segment{t, k0, k})
			room -= k
			k0 += k
			if k == 0 {
				break
			}
		}
	}
	return append(blocks, cur)
}

// gemmItem computes rows [r0, r1) of panel pn.
func gemmItem(out []float32, ldo, rows, n, pn, r0, r1 int, acc bool, sh shape, segs []segment) {
	j0 := pn * panelW
	cols := min(panelW, n-j0)
	whole := 0 // full tiles, run in one call per segment
	if cols == panelW {
		whole = (r1 - r0) / tileRows
	}
	if sh == lowerOut { // tiles wholly above the diagonal are skipped
		skip := min(max(j0-tileRows+1-r0, 0)+tileRows-1, r1-r0) / tileRows
		r0 += skip * tileRows
		whole -= min(skip, whole)
	}
	if whole > 0 {
		for i, s := range segs {
			tiles(out[r0*ldo+j0:], ldo, s.t.a, s.t.b.panel(pn), r0, whole, s.k0, s.k, acc || i > 0, sh)
		}
	}
	for r := r0 + whole*tileRows; r < r1; r += tileRows {
		if sh == lowerOut && j0 > min(r1, r+tileRows)-1 {
			continue
		}
		gemmEdge(out, ldo, rows, j0, cols, r, min(r1, r+tileRows), acc, sh, segs)
	}
}

// kRange is the part of k range [k0, k0+k) where A's six rows from r can be
// nonzero.
func kRange(sh shape, r, k0, k int) (int, int) {
	lo, hi := k0, k0+k
	switch sh {
	case lowerA:
		hi = min(hi, r+tileRows)
	case upperA:
		lo = max(lo, r)
	}
	if hi <= lo {
		return k0, 0
	}
	return lo, hi - lo
}

// tilesGo runs n full tiles down a panel from row r0: out starts at the
// first tile, a is the whole left operand, b the panel.
func tilesGo(out []float32, ldo int, a matA, b []float32, r0, n, k0, k int, acc bool, sh shape) {
	for i := 0; i < n; i++ {
		r := r0 + i*tileRows
		lo, kk := kRange(sh, r, k0, k)
		tile(out[i*tileRows*ldo:], ldo, a.a[r*a.rs+lo*a.ts:], a.rs, a.ts, b[lo*panelW:], kk, acc)
	}
}

// gemmEdge computes rows [r, r1) and cols [j0, j0+cols) of a tile that is
// short of rows or columns, through a full tile in a temporary. A short
// last tile is moved up to end at the last row (rows above it are computed
// and dropped), so that only a matrix of under six rows needs the portable tile.
func gemmEdge(out []float32, ldo, rows, j0, cols, r, r1 int, acc bool, sh shape, segs []segment) {
	var tmp [tileRows * panelW]float32
	top := min(r, max(rows-tileRows, 0))
	if acc {
		for i := r; i < r1; i++ {
			copy(tmp[(i-top)*panelW:(i-top)*panelW+cols], out[i*ldo+j0:i*ldo+j0+cols])
		}
	}
	pn := j0 / panelW
	for _, s := range segs {
		if rows < tileRows {
			tileGo(tmp[:], panelW, s.t.a.a[s.k0*s.t.a.ts:], s.t.a.rs, s.t.a.ts, s.t.b.panel(pn)[s.k0*panelW:], s.k, true, rows)
			continue
		}
		runTile(tmp[:], panelW, top, pn, s, true, sh)
	}
	for i := r; i < r1; i++ {
		copy(out[i*ldo+j0:i*ldo+j0+cols], tmp[(i-top)*panelW:(i-top)*panelW+cols])
	}
}

// runTile runs segment s on the six rows of A from row r into out.
func runTile(out []float32, ldo, r, pn int, s segment, acc bool, sh shape) {
	tilesGo(out, ldo, s.t.a, s.t.b.panel(pn), r, 1, s.k0, s.k, acc, sh)
}

// tileGo is the portable tile: mr ≤ 6 rows of out (+)= A·panel.
func tileGo(out []float32, ldo int, a []float32, rs, ts int, b []float32, k int, acc bool, mr int) {
	for r := 0; r < mr; r++ {
		var c [panelW]float32
		if acc {
			copy(c[:], out[r*ldo:r*ldo+panelW])
		}
		for t := 0; t < k; t++ {
			av, bt := a[r*rs+t*ts], b[t*panelW:(t+1)*panelW]
			for j := range c {
				c[j] += av * bt[j]
			}
		}
		copy(out[r*ldo:r*ldo+panelW], c[:])
	}
}

func tile6Go(out []float32, ldo int, a []float32, rs, ts int, b []float32, k int, acc bool) {
	tileGo(out, ldo, a, rs, ts, b, k, acc, tileRows)
}
