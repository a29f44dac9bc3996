package scheduler

import "github.com/graft-ai/graft/engine/kvcache"

// step is the state of one Schedule call: what is left of the budget.
//
// It is also the seam for batch-composition policies. The next one is adapter-aware
// scheduling (at most N distinct LoRA adapters per step, as vLLM's max_loras): add
// the adapters seen to step, count running requests' adapters in take, and refuse
// in canAdmit a waiting request whose adapter would exceed the limit. The admission
// loop then skips it (it keeps its place in the queue) instead of stopping, and
// the arrival-ordered inserts in Schedule keep the queues ordered.
type step struct {
	budget   int // tokens left this step
	cap      int // most tokens per request
	adapters admission
	// pending are the hashes of blocks running requests have yet to compute,
	// built on first use in a step.
	pending map[kvcache.BlockHash]bool
}

// chunk is how many of r's uncomputed tokens fit in this step.
func (st *step) chunk(r *Request) int {
	return min(r.NumTokens()-r.NumComputed, st.cap, st.budget)
}

// take charges n tokens of r to the step.
func (st *step) take(r *Request, n int) {
	st.budget -= n
}

// canAdmit reports whether waiting request r may join this step's batch beyond
// budget, sequence and block limits, which Schedule checks itself.
func (st *step) canAdmit(r *Request) bool {
	return st.adapters.allows(r)
}
