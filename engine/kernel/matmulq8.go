package kernel

import (
	"encoding/binary"
	"fmt"
	"sync"
	"unsafe"

	"github.com/graft-ai/graft/engine/gguf"
)

// MatMulQ8 is MatMulQ with the activations quantized as ggml quantizes them
// (dot8.go): each row of x becomes 8-bit blocks once per call, and every
// output is the type's integer dot of one activation row with one weight
// row. Each element is computed by the same function whatever the number of
// rows, the tiling or the split over p, so a row's result is bit-identical
// alone or inside any batch. The outputs differ from MatMulQ's (exact on
// the decoded weights) by the activation rounding, about 2^-8 of each
// block's largest |x| per value. Types without an integer dot take MatMulQ.
func MatMulQ8(p *Pool, out, x []float32, w []byte, t gguf.Type, rows, in, outDim int) {
	id := intDots[t]
	if id == nil {
		MatMulQ(p, out, x, w, t, rows, in, outDim)
		return
	}
	matMulQ8(p, out, x, w, t, id, rows, in, outDim)
}

// matMulQ8 is MatMulQ8 with the integer dot id of w's layout.
func matMulQ8(p *Pool, out, x []float32, w []byte, t gguf.Type, id *intDot, rows, in, outDim int) {
	if in%t.BlockSize() != 0 || id.act.blockSize() != t.BlockSize() {
		panic(fmt.Sprintf("kernel: %s rows of %d values are not whole blocks", t, in))
	}
	checkMatMul(len(out), len(x), len(w)/id.rowBytes(t, 1)*t.BlockSize(), rows, in, outDim)
	if rows == 0 || outDim == 0 {
		return
	}
	j := newQ8Job(out, x, w, t, id, rows, in, outDim)
	nb := j.qnb
	batched := takesBatched(id, rows, nb)
	units := j.units()
	if p == nil || len(p.workers) == 0 {
		s := serialActs.Get().(*[]byte)
		defer serialActs.Put(s)
		j.xq = growBytes(s, rows*j.ldq)
		if batched {
			sc := serialIntScratch.Get().(*[1]intScratch)
			defer serialIntScratch.Put(sc)
			j.useBatchScratch(&sc[0].acts, sc[:])
		}
		j.quantRows(0, rows)
		if batched {
			j.runBatched(0, 0, units)
		} else {
			j.runInt(0, units)
		}
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	j.xq = growBytes(&p.acts, rows*j.ldq)
	if batched {
		j.useBatchScratch(&p.batchActs, p.intScr)
	}
	fn := p.mm.fn
	p.mm = j
	p.mm.fn = fn
	if rows > 1 {
		p.runLocked(rows, p.mmQuant, nil)
	} else {
		p.mm.quantRows(0, 1)
	}
	switch {
	case batched && units == 1:
		p.mm.runBatched(0, 0, 1)
	case batched:
		p.runLocked(units, nil, p.mmInt)
	case units == 1:
		p.mm.run(0, 1)
	default:
		p.runProduct(rows, units, fn)
	}
	p.mm = matMulJob{fn: fn}
}

// newQ8Job is MatMulQ8's job over w (of type t, with integer dot id), its
// x rows not yet quantized: 4-column tiles (or id.cols), and row blocks
// whose activation blocks stay in L2 while a column tile passes over them.
func newQ8Job(out, x []float32, w []byte, t gguf.Type, id *intDot, rows, in, outDim int) matMulJob {
	nb := in / t.BlockSize()
	j := matMulJob{q: w, rowBytes: id.rowBytes(t, nb), idot: id, qnb: nb, ldq: nb * id.act.blockBytes()}
	j.out, j.x, j.rows, j.in, j.outDim = out, x, rows, in, outDim
	j.tileCols = 4
	if id.cols > 0 {
		j.tileCols = id.cols
	}
	j.rowBlock = max((192<<10)/j.ldq/4*4, 4)
	return j
}

// units is the job's column tiles, the pool's work items.
func (j *matMulJob) units() int { return (j.outDim + j.tileCols - 1) / j.tileCols }

// takesBatched reports whether rows rows of nb blocks go through the
// batched tiles, which reuse each weight tile over the rows.
func takesBatched(id *intDot, rows, nb int) bool {
	return id.batch != nil && rows > 1 && nb <= maxBatchBlocks
}

// serialActs holds the quantized activations of calls without workers.
var serialActs = sync.Pool{New: func() any { return new([]byte) }}

// serialIntScratch holds the batched scratch of calls without workers.
var serialIntScratch = sync.Pool{New: func() any { return new([1]intScratch) }}

func growFloats(b *[]float32, n int) []float32 {
	if cap(*b) < n {
		*b = make([]float32, n)
	}
	return (*b)[:n]
}

func growBytes(b *[]byte, n int) []byte {
	if cap(*b) < n {
		*b = make([]byte, n)
	}
	return (*b)[:n]
}

// quantRows quantizes x rows [lo, hi) into their activation blocks, and
// for the batched kernels widens each block's d into j.xd (and Q8_1's s,
// after d, into j.xs) and biases its values into j.xu.
func (j *matMulJob) quantRows(lo, hi int) {
	bb, xd, xs := j.idot.act.blockBytes(), j.xd, j.xs
	for r := lo; r < hi; r++ {
		xq := j.xq[r*j.ldq : (r+1)*j.ldq]
		j.idot.quantize(xq, j.x[r*j.in:(r+1)*j.in])
		if xd != nil {
			g := r / 4 * 4 * j.qnb
			for b := range j.qnb {
				xd[g+4*b+r%4] = half(xq[b*bb:])
				if xs != nil {
					xs[g+4*b+r%4] = half(xq[b*bb+2:])
				}
			}
		}
		if j.xu != nil {
			biasActs(j.xu[r*32*j.qnb:(r+1)*32*j.qnb], xq, bb)
		}
	}
}

// The batched path (intDot.batch, SIMD builds) for calls of several rows:
// the activation scales are widened to float32 once per call, in groups of
// four rows ([row/4][block][row%4], so that a tile's four d_x are one
// load); each participant widens a column tile's weight scales once
// ([block][column]) and, for Q4_0, Q5_0, Q4_1 and Q5_1, unpacks its
// weights once (the values and their per-lane sums, for kernels that take
// the activations as x+128 and need no sign trick), before the tile
// passes over a block of rows; and each 4×4 tile's d_w·d_x are formed in a
// pass before its kernels; Q4_1 and Q5_1 add their m·s floats after it. The kernels form the same integers and the same float32
// products as the type's own, in the same order, so the bits do not change;
// what goes is the per-tile gathering of half scales (a quarter of the
// kernel's time), a store-forwarding stall, and the per-tile unpacking.

// biasActs writes the values of activation blocks of bb bytes (Q8_0 or
// Q8_1, the values last) as x+128 (unsigned bytes, 32 a block) for the
// unsigned batched kernels.
func biasActs(dst, xq []byte, bb int) {
	for b := range len(dst) / 32 {
		src := xq[(b+1)*bb-32 : (b+1)*bb]
		for k := 0; k < 32; k += 8 {
			v := binary.LittleEndian.Uint64(src[k:])
			binary.LittleEndian.PutUint64(dst[b*32+k:], v^0x8080808080808080)
		}
	}
}

// maxBatchBlocks bounds the blocks per row the batched path takes (rows of
// up to 16384 values); longer rows take the type's own kernels.
const maxBatchBlocks = 512

// batchDot is a type's batched kernels.
type batchDot struct {
	// unpack rewrites nb weight blocks of one row as 64-byte blocks for the
	// unsigned kernels, which take the activations as x+128 (j.xu); nil
	// where the kernels read the weights in place (Q8_0, signed activations).
	unpack func(dst *byte, w *byte, nb int)
	// scales widens the d of each block of four weight rows (w0..w3, which
	// may repeat) into dst[4b+c].
	scales func(dst *float32, w0, w1, w2, w3 *byte, nb, bb int)
	// products forms a 4×4 tile's d_w·d_x, dst[16b+4c+r], from the row
	// group's activation scales and the column tile's weight scales.
	products func(dst, xd, wd *float32, nb int)
	// tile is qdotIFunc for rows ≥ 2 on the weights in place or unpacked,
	// with the tile's scale products at dp.
	tile func(out *float32, ldo int, xq *byte, ldx int, w *byte, ldw int, nb int, dp *float32, rows, cols int)
	// quad is n tiles of 4 rows by 4 columns, rows 4 further each: their
	// products (into dp, from xd, 16·nb floats further each) and tiles.
	quad func(out *float32, ldo int, xq *byte, ldx int, w *byte, ldw int, nb int, xd, wd, dp *float32, n int)
	// biasedQuad is whether quad takes the activations as x+128 (j.xu)
	// beside the weights in place (dot8zQuad).
	biasedQuad bool
	// offsets, where set (weights d·q + m with Q8_1 activations), adds
	// each tile's m·s floats to its outputs after the tile (addOffsets).
	offsets *offsetKernels
}

// offsetKernels form the m·s floats of 4×4 tiles from the row group's s
// (xs, laid out as xd) and the column tile's m (widened by batchDot.scales
// from byte 2 of each block).
type offsetKernels struct {
	tile func(dst, xs, wm *float32, nb int)                      // dst[4r+c]
	add  func(out *float32, ldo int, xs, wm *float32, nb, n int) // into n whole tiles, 4 rows apart
}

// intScratch is one participant's batched scratch: a column tile's weight
// scales (and m) and unpacked weights and a 4×4 tile's scale products
// (and m·s floats); acts is the serial path's batchActs.
type intScratch struct {
	dp   []float32
	wd   []float32
	wm   []float32
	sm   [16]float32
	wq   []byte
	acts batchActs
}

// batchActs holds what the batched path derives from the quantized
// activations (matMulJob's xd, xs and xu).
type batchActs struct {
	xd, xs []float32
	xu     []byte
}

// useBatchScratch sizes the batched path's arrays in a and s (the
// participants' scratch) for j, and gives them to j: xs where the dot has
// offsets, xu where it unpacks.
func (j *matMulJob) useBatchScratch(a *batchActs, s []intScratch) {
	n := (j.rows + 3) / 4 * 4 * j.qnb // groups of four rows: [row/4][block][row%4]
	j.xd = growFloats(&a.xd, n)
	if j.idot.batch.offsets != nil {
		j.xs = growFloats(&a.xs, n)
	}
	if j.idot.batch.unpack != nil || j.idot.batch.biasedQuad {
		j.xu = growBytes(&a.xu, j.rows*j.qnb*32)
	}
	growIntScratch(s, j.qnb)
	j.iscr = s
}

func growIntScratch(s []intScratch, nb int) {
	for i := range s {
		growFloats(&s[i].wd, 4*nb)
		growFloats(&s[i].wm, 4*nb)
		growFloats(&s[i].dp, 16*nb)
		growBytes(&s[i].wq, 4*nb*64)
	}
}

// runBatched is runInt with the batched kernels on participant id's scratch.
func (j *matMulJob) runBatched(id, lo, hi int) {
	c0, c1 := lo*j.tileCols, min(hi*j.tileCols, j.outDim)
	od, ld, rb, nb, bd := j.outDim, j.ldq, j.rowBytes, j.qnb, j.idot.batch
	s := &j.iscr[id]
	bb := rb / nb
	xq, lx := j.xq, ld // the tiles' activations, and the quads'
	if bd.unpack != nil {
		xq, lx = j.xu, nb*32
	}
	qx, qlx := xq, lx
	if bd.biasedQuad {
		qx, qlx = j.xu, nb*32
	}
	for r0 := 0; r0 < j.rows; r0 += j.rowBlock {
		r1 := min(r0+j.rowBlock, j.rows)
		for c := c0; c < c1; c += 4 {
			cols := min(4, c1-c)
			wc := func(i int) *byte { return &j.q[(c+min(i, cols-1))*rb] }
			bd.scales(&s.wd[0], wc(0), wc(1), wc(2), wc(3), nb, bb)
			if bd.offsets != nil {
				m := func(i int) *byte { return (*byte)(unsafe.Add(unsafe.Pointer(wc(i)), 2)) }
				bd.scales(&s.wm[0], m(0), m(1), m(2), m(3), nb, bb)
			}
			w, lw := &j.q[c*rb], rb
			if bd.unpack != nil {
				for i := range cols {
					bd.unpack(&s.wq[i*nb*64], wc(i), nb)
				}
				w, lw = &s.wq[0], nb*64
			}
			r := r0
			if n := (r1 - r0) / 4; cols == 4 && n > 0 {
				bd.quad(&j.out[r*od+c], od, &qx[r*qlx], qlx, w, lw, nb, &j.xd[r/4*4*nb], &s.wd[0], &s.dp[0], n)
				if bd.offsets != nil {
					bd.offsets.add(&j.out[r*od+c], od, &j.xs[r/4*4*nb], &s.wm[0], nb, n)
				}
				r += 4 * n
			}
			for ; r < r1; r += 4 {
				rows := min(4, r1-r)
				if rows == 1 { // the type's own lone-row kernel, same bits
					j.idot.dot(&j.out[r*od+c], od, &j.xq[r*ld], ld, &j.q[c*rb], rb, nb, 1, cols)
					continue
				}
				bd.products(&s.dp[0], &j.xd[r/4*4*nb], &s.wd[0], nb)
				bd.tile(&j.out[r*od+c], od, &xq[r*lx], lx, w, lw, nb, &s.dp[0], rows, cols)
				j.addOffsets(s, r, c, rows, cols)
			}
		}
	}
}

// addOffsets adds the m·s floats of the tile at rows r.., columns c.. to
// its outputs, which hold the lanes' sum8: the reference's last addition.
func (j *matMulJob) addOffsets(s *intScratch, r, c, rows, cols int) {
	if j.idot.batch.offsets == nil {
		return
	}
	j.idot.batch.offsets.tile(&s.sm[0], &j.xs[r/4*4*j.qnb], &s.wm[0], j.qnb)
	for i := range rows {
		o := j.out[(r+i)*j.outDim+c:]
		for k := range cols {
			o[k] += s.sm[4*i+k]
		}
	}
}

// runInt computes the output columns of column tiles [lo, hi) with integer
// dots: row blocks, then column tiles of 4 weight rows (or the dot's cols),
// then tiles of up to 4 activation rows (the type's tileRows where set), so
// that a weight tile is unpacked once per tile of rows and reused from L1
// across the block.
func (j *matMulJob) runInt(lo, hi int) {
	c0, c1 := lo*j.tileCols, min(hi*j.tileCols, j.outDim)
	od, ld, rb, nb, dot := j.outDim, j.ldq, j.rowBytes, j.qnb, j.idot.dot
	if j.rows == 1 && j.idot.row != nil {
		j.idot.row(&j.out[c0], &j.xq[0], &j.q[c0*rb], rb, nb, c1-c0)
		return
	}
	tr := max(j.idot.tileRows, 4)
	for r0 := 0; r0 < j.rows; r0 += j.rowBlock {
		r1 := min(r0+j.rowBlock, j.rows)
		for c := c0; c < c1; c += j.tileCols {
			cols := min(j.tileCols, c1-c)
			for r := r0; r < r1; r += tr {
				dot(&j.out[r*od+c], od, &j.xq[r*ld], ld, &j.q[c*rb], rb, nb, min(tr, r1-r), cols)
			}
		}
	}
}
