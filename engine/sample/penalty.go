package sample

// applyPenalties penalizes logits in place. count is a zeroed scratch array
// of len(logits); it is zero again on return, so each call costs
// O(len(prompt)+len(generated)) rather than O(vocab).
//
// Token ids outside [0, len(logits)) are ignored: they cannot be sampled, so
// there is nothing to penalize.
func applyPenalties(p *Params, logits []float32, count []int32, prompt, generated []int32) {
	vocab := int32(len(logits))
	rep := p.RepetitionPenalty != 1
	for _, t := range generated {
		if uint32(t) < uint32(vocab) {
			count[t]++
		}
	}
	// A negative count marks a token already penalized, so a token that
	// repeats is penalized once.
	if rep {
		for _, t := range prompt {
			if uint32(t) < uint32(vocab) {
				penalizeOnce(p, logits, count, t, rep)
			}
		}
	}
	for _, t := range generated {
		if uint32(t) < uint32(vocab) {
			penalizeOnce(p, logits, count, t, rep)
		}
	}
	if rep {
		resetCounts(count, prompt, vocab)
	}
	resetCounts(count, generated, vocab)
}

func penalizeOnce(p *Params, logits []float32, count []int32, t int32, rep bool) {
	c := count[t]
	if c < 0 {
		return
	}
	count[t] = -1
	l := logits[t]
	if rep {
		// CTRL / HF RepetitionPenaltyLogitsProcessor: always towards less likely.
		if l > 0 {
			l /= p.RepetitionPenalty
		} else {
			l *= p.RepetitionPenalty
		}
	}
	if c > 0 {
		// Two float32 subtractions, in vLLM's order, so results match it.
		l -= p.FrequencyPenalty * float32(c)
		l -= p.PresencePenalty
	}
	logits[t] = l
}

func resetCounts(count, tokens []int32, vocab int32) {
	for _, t := range tokens {
		if uint32(t) < uint32(vocab) {
			count[t] = 0
		}
	}
}
