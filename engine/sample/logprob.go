package sample

import "math"

// TokenLogprob is one token with its log-probability.
type TokenLogprob struct {
	Token   int32
	Logprob float32
}

// scan makes logits safe to exponentiate (NaN becomes -Inf, +Inf becomes the
// largest finite float32, so differences from the maximum never produce NaN)
// and returns the largest logit and the lowest id holding it.
func scan(logits []float32) (maxLogit float32, argmax int32) { return scanImpl(logits) }

// scanImpl is scanGo, or a SIMD scan with its results where the CPU has one.
var scanImpl = scanGo

func scanGo(logits []float32) (maxLogit float32, argmax int32) {
	maxLogit = float32(math.Inf(-1))
	for i, l := range logits {
		if l != l {
			logits[i] = float32(math.Inf(-1))
			continue
		}
		if l > math.MaxFloat32 {
			l = math.MaxFloat32
			logits[i] = l
		}
		if l > maxLogit {
			maxLogit, argmax = l, int32(i)
		}
	}
	return maxLogit, argmax
}

// logSumExp returns log Σ exp(logits), accumulated in float64.
func logSumExp(logits []float32, maxLogit float32) float64 {
	m := float64(maxLogit)
	if math.IsInf(m, -1) {
		return m
	}
	var sum float64
	for _, l := range logits {
		sum += math.Exp(float64(l) - m)
	}
	return m + math.Log(sum)
}

// topLogits fills top (its length is the count wanted) with the largest
// logits in descending order, lower id first among equals. It keeps the
// list sorted by insertion, which is cheap because top is at most 20 long
// and almost every logit loses to the current last entry at once.
func topLogits(logits []float32, top []TokenLogprob) {
	n := len(top)
	if n == 0 {
		return
	}
	filled := 0
	for i, l := range logits {
		if filled == n {
			// Equal to the last entry loses: that entry has the lower id.
			if !(l > top[n-1].Logprob) {
				continue
			}
			filled--
		}
		j := filled
		for j > 0 && l > top[j-1].Logprob {
			top[j] = top[j-1]
			j--
		}
		top[j] = TokenLogprob{Token: int32(i), Logprob: l}
		filled++
	}
}
