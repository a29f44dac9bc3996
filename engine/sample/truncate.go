package sample

import (
	"math"
	"slices"
)

// cand is one candidate token. w holds a logit while top-k selects, then the
// unnormalized probability exp((logit-max)/T), which is 1 for the top token.
type cand struct {
	w  float32
	id int32
}

// byWeightDesc orders candidates by weight, lower id first among equals, so
// the inverse CDF walks a fully determined order.
func byWeightDesc(a, b cand) int {
	switch {
	case a.w > b.w:
		return -1
	case a.w < b.w:
		return 1
	}
	return int(a.id) - int(b.id)
}

// expCutoff is where float32(exp(x)) is 0, so the exponential can be skipped.
const expCutoff = -104

func weight(logit float32, maxLogit, invTemp float64) float32 {
	x := (float64(logit) - maxLogit) * invTemp
	if x < expCutoff {
		return 0
	}
	return float32(math.Exp(x))
}

// kthLargest returns the k-th largest logit, using heap (len >= k) as a
// min-heap of the k largest seen so far.
func kthLargest(logits []float32, k int, heap []cand) float32 {
	h := heap[:k]
	for i := range h {
		h[i].w = logits[i]
	}
	for i := k/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	for _, l := range logits[k:] {
		if l > h[0].w {
			h[0].w = l
			siftDown(h, 0)
		}
	}
	return h[0].w
}

func siftDown(h []cand, i int) {
	n := len(h)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && h[c+1].w < h[c].w {
			c++
		}
		if !(h[c].w < h[i].w) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// topK fills buf with every token whose logit is at least the k-th largest
// (ties at the boundary are all kept, as in HF and vLLM), sorted in
// descending order, and turns their logits into weights.
func topK(logits []float32, k int, invTemp float64, buf []cand) []cand {
	theta := kthLargest(logits, k, buf)
	c := buf[:0]
	for i, l := range logits {
		if l >= theta {
			c = append(c, cand{w: l, id: int32(i)})
		}
	}
	slices.SortFunc(c, byWeightDesc)
	m := float64(c[0].w)
	for i := range c {
		c[i].w = weight(c[i].w, m, invTemp)
	}
	return c
}

// nucleusMinP returns how many of the sorted candidates c survive top-p and
// then min-p. Top-p keeps a token while the mass strictly before it is below
// topP of the total (HF and vLLM's rule, so the token that crosses stays);
// min-p keeps tokens with weight >= minP, i.e. p >= minP·p_max. Both keep
// prefixes, and the first token always survives.
func nucleusMinP(c []cand, total float64, topP, minP float32) int {
	n := len(c)
	if topP < 1 {
		limit := float64(topP) * total
		var before float64
		for i, x := range c {
			if before >= limit {
				n = i
				break
			}
			before += float64(x.w)
		}
	}
	if minP > 0 {
		for i, x := range c[:n] {
			if x.w < minP {
				return max(i, 1)
			}
		}
	}
	return n
}

func sumWeights(c []cand) float64 {
	var s float64
	for _, x := range c {
		s += float64(x.w)
	}
	return s
}

// pickSorted returns the token whose share of c's cumulative mass contains
// target (0 <= target < total). Rounding can leave target past the last
// partial sum; then the last token with any mass is chosen.
func pickSorted(c []cand, target float64) int32 {
	var cum float64
	last := c[0].id
	for _, x := range c {
		if x.w == 0 {
			break
		}
		cum += float64(x.w)
		last = x.id
		if cum > target {
			return x.id
		}
	}
	return last
}
