//go:build goexperiment.simd && amd64

package kernel

import "unsafe"

// streamRow is a type's lone-row kernels for intDot.row: a strided 1×4
// (one row from each of four streams per call), a 1×4 and a 1×1.
type streamRow struct{ strided, x4, x1 dot8Func }

// row computes out[c] for c < cols, the dots of one activation row with
// weight rows w + c·ldw. A long range is read as four streams: the strided
// kernel takes one row from each quarter of it per call. One sequential
// stream per core leaves memory idle between misses (the hardware
// prefetcher runs only so far ahead of it, and software prefetch further on
// did not help): four streams read a Q6_K output layer at about 19 GB/s on
// one Zen 3 core where one stream reads 11, and Q8_0 at 23-26 where one
// reads 17-19 (BenchmarkDot8Row). Streams of a few rows end before the
// prefetcher has learnt them, so a range whose quarters are shorter than
// rowMinStream bytes takes 1×4 tiles in order instead (the crossover
// measured on the decode shapes). Each output is one kernel's dot either
// way, so the bits do not change.
func (k *streamRow) row(out *float32, xq *byte, w *byte, ldw, nb, cols int) {
	c := 0
	if q := cols / 4; q*ldw >= rowMinStream {
		for ; c < q; c++ {
			o, wc := rowAt(out, w, ldw, c)
			k.strided(o, q, xq, 0, wc, q*ldw, nb)
		}
		c = 4 * q
	}
	for ; c+4 <= cols; c += 4 {
		o, wc := rowAt(out, w, ldw, c)
		k.x4(o, 0, xq, 0, wc, ldw, nb)
	}
	for ; c < cols; c++ {
		o, wc := rowAt(out, w, ldw, c)
		k.x1(o, 0, xq, 0, wc, ldw, nb)
	}
}

// rowAt is output c and weight row c.
func rowAt(out *float32, w *byte, ldw, c int) (*float32, *byte) {
	return (*float32)(unsafe.Add(unsafe.Pointer(out), 4*c)), (*byte)(unsafe.Add(unsafe.Pointer(w), c*ldw))
}

// streamRow8 is streamRow for a type whose lone-row kernels take eight
// rows (Q4_0: the per-block work that does not depend on the rows is
// shared by eight). A range whose quarters are at least rowMinStream bytes
// is read as four streams, two adjacent rows of each per call (and a
// quarter's odd last row by narrow's strided kernel), others as eight
// rows in order; the rest by narrow. Eight streams of a row each left
// most of decode's claims (the pool's chunks shrink as a Run goes on) in
// order: an eighth of them was under the threshold.
type streamRow8 struct {
	strided, x8 dot8Func
	narrow      streamRow
}

func (k *streamRow8) row(out *float32, xq *byte, w *byte, ldw, nb, cols int) {
	c := 0
	if q := cols / 4; q*ldw >= rowMinStream {
		for ; c+2 <= q; c += 2 {
			o, wc := rowAt(out, w, ldw, c)
			k.strided(o, q, xq, ldw, wc, q*ldw, nb)
		}
		if c < q {
			o, wc := rowAt(out, w, ldw, c)
			k.narrow.strided(o, q, xq, 0, wc, q*ldw, nb)
		}
		c = 4 * q
	}
	for ; c+8 <= cols; c += 8 {
		o, wc := rowAt(out, w, ldw, c)
		k.x8(o, 0, xq, 4*ldw, wc, ldw, nb)
	}
	if c < cols {
		o, wc := rowAt(out, w, ldw, c)
		k.narrow.row(o, xq, wc, ldw, nb, cols-c)
	}
}

// rowMinStream is the shortest quarter, in bytes, that row reads as a
// stream of its own (a variable for the A/B tools).
var rowMinStream = defaultRowMinStream

const defaultRowMinStream = 12 << 10
