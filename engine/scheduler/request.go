package scheduler

import "github.com/graft-ai/graft/engine/kvcache"

// Status is where a request is in its life.
type Status uint8

const (
	// StatusWaiting: added, never scheduled.
	StatusWaiting Status = iota
	// StatusRunning: holds blocks and is scheduled every step until it finishes.
	StatusRunning
	// StatusPreempted: lost its blocks to an older request and waits to recompute
	// its prompt and generated tokens.
	StatusPreempted
	// StatusFinished: done (stop, length or cancel); holds no blocks.
	StatusFinished
)

func (s Status) String() string {
	switch s {
	case StatusWaiting:
		return "waiting"
	case StatusRunning:
		return "running"
	case StatusPreempted:
		return "preempted"
	case StatusFinished:
		return "finished"
	}
	return "unknown"
}

// FinishReason says why a request (or an engine sequence) finished; empty while
// it runs. The engine uses this type too, so one set of reasons crosses from the
// scheduler to the engine's clients.
type FinishReason string

const (
	// FinishStop: the runner reported a stop (EOS, stop sequence).
	FinishStop FinishReason = "stop"
	// FinishLength: MaxTokens generated, or the sequence reached MaxModelLen.
	FinishLength FinishReason = "length"
	// FinishCancelled: Cancel was called.
	FinishCancelled FinishReason = "cancelled"
	// FinishError: the runner failed the sequence; the scheduler never sets it.
	FinishError FinishReason = "error"
)

// Request is one sequence as the scheduler sees it: token counts, no tokens.
// The caller fills ID, NumPromptTokens, MaxTokens and Adapter; after Add the
// scheduler owns it and writes the other fields under its lock, so other
// goroutines must not read them (use Output, Update's result and Stats instead).
type Request struct {
	ID              uint64
	NumPromptTokens int
	MaxTokens       int    // output tokens to generate at most; at least 1
	Adapter         string // LoRA adapter name, "" for the base model
	// N is the number of sequences sampled from the prompt (0 or 1: one). The
	// prompt is computed once; the step that samples its first tokens reports
	// the other N-1 sequences in Result.Forks, and each continues as a request
	// of its own whose table shares the prompt's blocks. Until then the request
	// holds N sequence seats in the running batch.
	N int
	// BlockHashes name the prompt's full blocks (kvcache.HashBlocks) when the
	// scheduler caches prefixes: blocks found cached are reused instead of
	// computed, and blocks this request computes are cached for later ones.
	BlockHashes []kvcache.BlockHash

	NumOutputTokens int // output tokens appended so far
	NumComputed     int // tokens whose K/V are in the cache
	Arrival         uint64
	Status          Status
	Reason          FinishReason // set once Status is StatusFinished

	table kvcache.Table
	// registered is how many of BlockHashes' blocks are in the prefix index.
	registered int
	// fork orders the sequences of one request, which share its Arrival: 0
	// for the request itself, i for its i-th fork. Queues order by both, so
	// preemption and readmission among them are as deterministic as FCFS.
	fork int
}

// seats is the sequences r stands for in the running batch.
func (r *Request) seats() int { return max(r.N, 1) }

// NumTokens is the sequence length so far: prompt plus generated tokens.
func (r *Request) NumTokens() int { return r.NumPromptTokens + r.NumOutputTokens }

// maxComputed is the most tokens this request can ever have in the cache: the last
// token generated is returned to the client, never fed back.
func (r *Request) maxComputed(maxModelLen int) int {
	gen := max(1, maxModelLen-r.NumPromptTokens)
	gen = min(gen, r.MaxTokens)
	return r.NumPromptTokens + gen - 1
}
