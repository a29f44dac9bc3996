package sample

import (
	"math"
	"slices"
)

// Without top-k the candidates are the whole vocabulary, and sorting 150k
// of them per token would dominate. Weights lie in [0, 1] and the bit
// pattern of a non-negative float32 grows with its value, so the top bits
// split [0, 1] into ordered buckets (eight per power of two). Summing the
// mass per bucket finds the few buckets that top-p or the draw needs; only
// their tokens are sorted.
const (
	bucketShift = 20
	numBuckets  = 0x3F800000>>bucketShift + 1
)

type histogram [numBuckets]float64

func bucketOf(w float32) int { return int(math.Float32bits(w) >> bucketShift) }

func bucketLow(b int) float32 { return math.Float32frombits(uint32(b) << bucketShift) }

// fullWeights writes every token's weight into c (len(c) == len(logits)),
// zeroing those below cut, fills h with the mass per bucket and returns the
// total mass.
func fullWeights(logits []float32, maxLogit, invTemp float64, cut float32, c []cand, h *histogram) float64 {
	clear(h[:])
	var total float64
	for i, l := range logits {
		w := weight(l, maxLogit, invTemp)
		if w < cut {
			w = 0
		}
		c[i] = cand{w: w, id: int32(i)}
		h[bucketOf(w)] += float64(w)
		total += float64(w)
	}
	return total
}

// nucleusBucket returns the lowest bucket whose cumulative mass, counted from
// the top, reaches limit. The slack makes sure the same mass summed in sorted
// order still reaches it, so the nucleus never needs a token below.
func nucleusBucket(h *histogram, limit float64) int {
	limit *= 1 + 1e-9
	var cum float64
	for b := numBuckets - 1; b > 0; b-- {
		cum += h[b]
		if cum >= limit {
			return b
		}
	}
	return 0
}

// drawBucket returns the bucket holding target in the cumulative mass counted
// from the top, and the mass above it. If rounding leaves target past the
// end, the lowest bucket with mass is returned.
func drawBucket(h *histogram, target float64) (b int, above float64) {
	var cum float64
	last, lastAbove := numBuckets-1, 0.0
	for b := numBuckets - 1; b >= 0; b-- {
		if h[b] == 0 {
			continue
		}
		if cum+h[b] > target {
			return b, cum
		}
		last, lastAbove = b, cum
		cum += h[b]
	}
	return last, lastAbove
}

// gather moves the candidates with weight in [lo, hi) to the front of c,
// sorts them in descending order and returns them.
func gather(c []cand, lo, hi float32) []cand {
	j := 0
	for i, x := range c {
		if x.w >= lo && x.w < hi {
			c[i], c[j] = c[j], x
			j++
		}
	}
	s := c[:j]
	slices.SortFunc(s, byWeightDesc)
	return s
}
