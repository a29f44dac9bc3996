package scheduler

import "github.com/graft-ai/graft/engine/kvcache"

// Output is one step's plan for the model runner. The scheduler reuses it: it is
// valid until the next Schedule.
type Output struct {
	// Scheduled lists the sequences to run this step, oldest arrival first.
	Scheduled []Scheduled
	// NumBatchedTokens is the sum of NumNew, at most Config.MaxNumBatchedTokens.
	NumBatchedTokens int
	// Preempted lists the requests that lost their blocks this step (or, when
	// forked, found none); the runner drops their state. They come back later with Admitted set and Start 0.
	Preempted []uint64
	// Finished lists the requests finished or cancelled since the last step; the
	// runner drops their state.
	Finished []uint64
	// ActiveAdapters are the adapters of running requests after this plan,
	// sorted: the runner must keep them in slots and may evict any other.
	ActiveAdapters []string
	// Copies are K/V block copies the runner makes before running this step:
	// the partly filled last prompt block of each sequence forked since the
	// last step (see Request.N).
	Copies []kvcache.BlockCopy
}

// Scheduled is one sequence's work in a step: compute the K/V of token positions
// [Start, Start+NumNew) into Blocks.
type Scheduled struct {
	ID      uint64
	Adapter string
	// Start is the first position to compute (the request's NumComputed).
	Start int
	// NumNew is 1 for a decode, a chunk of the remaining tokens for a prefill.
	NumNew int
	// Sample is set when this step reaches the end of the known tokens, so the
	// runner samples the next token.
	Sample bool
	// Admitted is set when the runner holds no state for this request yet: first
	// scheduled, or back after a preemption.
	Admitted bool
	// Blocks is the block table: position p lives in Blocks[p/blockSize] at offset
	// p%blockSize. It aliases the scheduler's table; it is valid until the next
	// Schedule and covers at least Start+NumNew positions.
	Blocks []int32

	req *Request
}

// Result is what the runner reports for one scheduled sequence after a step.
type Result struct {
	ID uint64
	// Appended is the number of output tokens sampled and appended (0 for a chunk
	// that did not reach the end of the prompt, else normally 1).
	Appended int
	// Finished reports a stop the runner detected (EOS, stop sequence). MaxTokens
	// and MaxModelLen the scheduler checks itself.
	Finished bool
	// Forks are the other sequences of a request with N > 1, reported in the
	// step that sampled the prompt's first tokens: each sampled its own first
	// token from the same logits. They continue as requests of their own.
	Forks []Fork
	// Hashes name the blocks the appended tokens filled (kvcache.HashNext),
	// continuing Request.BlockHashes, so generated text is cached too: a
	// chat's next turn, or the request itself after a preemption, reuses it.
	Hashes []kvcache.BlockHash
}

// Fork is one sequence split off a request's prompt: its id (unused so far),
// whether its first token already stopped it, and the hash of the block that
// token filled, if it did.
type Fork struct {
	ID       uint64
	Finished bool
	Hashes   []kvcache.BlockHash
}

// Finished is a request the scheduler finished in Update, and why.
type Finished struct {
	ID     uint64
	Reason FinishReason
}

func (o *Output) reset(finished []uint64) {
	o.Scheduled = o.Scheduled[:0]
	o.NumBatchedTokens = 0
	o.Preempted = o.Preempted[:0]
	o.Finished = append(o.Finished[:0], finished...)
	o.Copies = o.Copies[:0]
}
