// Package engine serves one model: requests arrive as token ids with sampling
// parameters, a continuous-batching loop runs them all through one batched forward
// pass per step over a paged KV cache, and each request streams its tokens back.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/grammar"
	"github.com/graft-ai/graft/engine/kvcache"
	"github.com/graft-ai/graft/engine/lora"
	"github.com/graft-ai/graft/engine/model"
	"github.com/graft-ai/graft/engine/scheduler"
)

// Config sizes the engine.
type Config struct {
	MaxNumSeqs       int   // sequences in one step; default 64
	MaxBatchedTokens int   // tokens in one step (prefill chunks + decodes); default 512
	BlockSize        int   // tokens per KV block; default 16
	KVCacheBytes     int64 // memory for the KV cache; default enough for MaxNumSeqs full contexts, at most 2 GiB
	MaxModelLen      int   // context length; default the model's
	// KVCacheDtype is how the KV cache stores keys and values: "auto" (the
	// default, also for ""), "f32" or "f16"; auto is f32 (see
	// model.Model.KVCacheDtype).
	KVCacheDtype string
	// MaxActiveAdapters is the number of adapter slots (adapters whose requests
	// run in the same step); default 8, negative disables adapters.
	MaxActiveAdapters int
	// MaxCachedAdapters bounds adapters kept parsed in host memory beyond the
	// slots; the rest reload from disk on use. Default 64.
	MaxCachedAdapters int
	// MaxLoRARank is the largest adapter rank accepted; default DefaultMaxLoRARank.
	MaxLoRARank int
	// MaxQueued is the most requests waiting to start; Generate refuses more
	// with ErrQueueFull. Default 256.
	MaxQueued int
	// AdapterDirs, when non-nil, are the only directories LoadAdapter reads
	// adapters from (after cleaning the path and resolving symlinks); an empty
	// non-nil list refuses every path. Nil means any path, for library use.
	AdapterDirs []string
	// DisablePrefixCaching turns off reusing the K/V of prompt prefixes other
	// requests (with the same adapter weights) computed. Outputs are the same
	// either way; caching only saves work.
	DisablePrefixCaching bool
	// AdapterLoader reads an adapter directory; default lora.Load. The engine
	// calls it off its step loop.
	AdapterLoader func(dir string, mc *model.Config, maxRank int) (*lora.Adapter, error)
}

// DefaultMaxLoRARank is the largest adapter rank an engine accepts unless
// Config.MaxLoRARank says otherwise.
const DefaultMaxLoRARank = 64

func (c *Config) defaults(m *model.Model) {
	mc := &m.Config
	if c.MaxNumSeqs <= 0 {
		c.MaxNumSeqs = 64
	}
	if c.MaxBatchedTokens <= 0 {
		c.MaxBatchedTokens = 512
	}
	if c.BlockSize <= 0 {
		c.BlockSize = 16
	}
	if c.MaxModelLen <= 0 || (mc.MaxPositions > 0 && c.MaxModelLen > mc.MaxPositions) {
		c.MaxModelLen = mc.MaxPositions
	}
	if c.MaxModelLen <= 0 {
		c.MaxModelLen = 2048
	}
	if c.MaxActiveAdapters == 0 {
		c.MaxActiveAdapters = 8
	}
	if c.MaxCachedAdapters <= 0 {
		c.MaxCachedAdapters = 64
	}
	if c.MaxLoRARank <= 0 {
		c.MaxLoRARank = DefaultMaxLoRARank
	}
	if c.MaxQueued <= 0 {
		c.MaxQueued = 256
	}
	if c.AdapterLoader == nil {
		c.AdapterLoader = lora.Load
	}
	if c.KVCacheBytes <= 0 {
		full := int64(c.MaxNumSeqs) * int64(c.MaxModelLen+c.BlockSize) * mc.KVBytesPerToken(c.KVCacheDtype)
		c.KVCacheBytes = min(full, 2<<30)
	}
}

// Engine runs the batching loop for one loaded model.
type Engine struct {
	cfg    Config
	loaded *Loaded
	m      *model.Model
	sched  *scheduler.Scheduler
	pool   *kvcache.BlockPool
	cache  compute.KVCache
	ws     *model.Workspace
	eos    map[int32]bool
	slots  *model.AdapterSlots // nil when adapters are disabled

	mu     sync.Mutex
	reg    adapterRegistry
	seqs   map[uint64]*sequence
	nextID atomic.Uint64
	wake   chan struct{}
	quit   chan struct{}
	done   chan struct{}

	batch      model.Batch
	batchSeqs  []*sequence
	adapterBuf []int32
	sampled    []int
	results    []scheduler.Result
	rowBuf     []float32 // a logits row each fork samples from unchanged

	promptTokens, prefillTokens, generationTokens atomic.Uint64
	adapterLoads, adapterSlotLoads                atomic.Uint64

	vocabOnce sync.Once
	vocabTrie *grammar.Vocab
	maskWait  sync.WaitGroup
}

// New starts the engine's loop. Close stops it.
func New(l *Loaded, cfg Config) (*Engine, error) {
	m := l.Model
	dtype, err := m.KVCacheDtype(cfg.KVCacheDtype)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	cfg.KVCacheDtype = dtype
	cfg.defaults(m)
	blocks := int(cfg.KVCacheBytes / (m.Config.KVBytesPerToken(dtype) * int64(cfg.BlockSize)))
	if blocks*cfg.BlockSize < cfg.MaxModelLen {
		return nil, fmt.Errorf("engine: KV cache of %d bytes holds %d tokens, less than one %d-token context", cfg.KVCacheBytes, blocks*cfg.BlockSize, cfg.MaxModelLen)
	}
	pool := kvcache.NewBlockPool(blocks, cfg.BlockSize)
	slots := max(cfg.MaxActiveAdapters, 0)
	sched, err := scheduler.New(scheduler.Config{
		MaxNumSeqs: cfg.MaxNumSeqs, MaxNumBatchedTokens: cfg.MaxBatchedTokens, MaxModelLen: cfg.MaxModelLen,
		MaxActiveAdapters: slots, MaxWaiting: cfg.MaxQueued, PrefixCaching: !cfg.DisablePrefixCaching,
	}, pool)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cfg: cfg, loaded: l, m: m, sched: sched, pool: pool,
		cache: m.NewKVCacheOf(dtype, blocks, cfg.BlockSize),
		eos:   map[int32]bool{}, seqs: map[uint64]*sequence{},
		reg:  adapterRegistry{entries: map[string]*adapterEntry{}, slotOwner: make([]*adapterEntry, slots)},
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
	}
	maxRank := 0
	if slots > 0 {
		e.slots, maxRank = m.NewAdapterSlots(slots, cfg.MaxLoRARank), cfg.MaxLoRARank
	}
	e.ws = m.NewWorkspace(cfg.MaxBatchedTokens, cfg.MaxNumSeqs, maxRank)
	e.batch.Slots = e.slots
	for _, id := range l.EOS {
		e.eos[id] = true
	}
	slog.Debug("engine ready", "kv_blocks", blocks, "block_size", cfg.BlockSize, "kv_cache_dtype", dtype,
		"max_model_len", cfg.MaxModelLen, "max_num_seqs", cfg.MaxNumSeqs)
	go e.loop()
	return e, nil
}

// Config returns the engine's effective configuration.
func (e *Engine) Config() Config { return e.cfg }

// Loaded returns the model, tokenizer and chat template the engine serves.
func (e *Engine) Loaded() *Loaded { return e.loaded }

// Close stops the loop; running requests end with FinishError.
func (e *Engine) Close() {
	select {
	case <-e.quit:
	default:
		close(e.quit)
	}
	<-e.done
}

func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Stats is a snapshot of the engine's load.
type Stats struct {
	Waiting, Running      int
	KVBlocksUsed, KVTotal int
	AdapterSlotsUsed      int
	AdapterSlots          int
	MaxQueued             int
	// PromptTokens counts the prompt tokens of accepted requests, each
	// request's once however many sequences it samples.
	PromptTokens uint64
	// PrefillTokens counts prompt tokens run through the model: a prompt
	// shared by N sequences once, a preempted sequence's again.
	PrefillTokens uint64
	// GenerationTokens counts sampled tokens.
	GenerationTokens uint64
	// PrefixCacheQueries counts the tokens of requests looked up in the prefix
	// cache as they start (again after a preemption), PrefixCacheHits those
	// found cached and not computed (vLLM's prefix_cache_queries and _hits).
	PrefixCacheQueries, PrefixCacheHits uint64
	// PrefixCachedBlocks are KV blocks holding a cached prefix, in use or free.
	PrefixCachedBlocks int
	// AdapterLoads counts adapters read from their files into host memory
	// (first loads and reads after eviction); AdapterSlotLoads adapters copied
	// into a compute slot. Routing that keeps adapters on their replicas
	// keeps both low.
	AdapterLoads, AdapterSlotLoads uint64
}

// KVUsage is the fraction of KV blocks in use, 0..1.
func (s Stats) KVUsage() float64 {
	if s.KVTotal == 0 {
		return 0
	}
	return float64(s.KVBlocksUsed) / float64(s.KVTotal)
}

// Stats reports queue depth, running sequences, KV cache use and token counts.
func (e *Engine) Stats() Stats {
	s := e.sched.Stats()
	st := Stats{Waiting: s.Waiting, Running: s.Running, KVBlocksUsed: s.BlockTotal - s.FreeBlocks, KVTotal: s.BlockTotal,
		MaxQueued: e.cfg.MaxQueued, PromptTokens: e.promptTokens.Load(), PrefillTokens: e.prefillTokens.Load(),
		GenerationTokens: e.generationTokens.Load(), PrefixCacheQueries: s.Prefix.Queries, PrefixCacheHits: s.Prefix.Hits,
		PrefixCachedBlocks: s.Prefix.CachedBlocks, AdapterLoads: e.adapterLoads.Load(), AdapterSlotLoads: e.adapterSlotLoads.Load()}
	e.mu.Lock()
	defer e.mu.Unlock()
	st.AdapterSlots = len(e.reg.slotOwner)
	for _, o := range e.reg.slotOwner {
		if o != nil {
			st.AdapterSlotsUsed++
		}
	}
	return st
}

var errClosed = errors.New("engine: closed")

// Generate queues a request. Cancelling ctx (or Stream.Cancel) stops it and frees
// its cache at once. A request of N sequences prefills its prompt once; its
// stream carries the events of all N.
func (e *Engine) Generate(ctx context.Context, req Request) (*Stream, error) {
	if err := e.validate(&req); err != nil {
		return nil, err
	}
	select {
	case <-e.quit:
		return nil, errClosed
	default:
	}
	var digest [32]byte
	var err error
	if req.Merge != nil {
		req.Adapter, digest, err = e.acquireMerged(req.Merge, req.N)
	} else {
		digest, err = e.acquireAdapter(req.Adapter, req.N)
	}
	if err != nil {
		return nil, err
	}
	stream := newStream(slices.Clone(req.Prompt), req.N)
	seqs := make([]*sequence, req.N)
	for i := range seqs {
		seqs[i] = e.newSequence(e.nextID.Add(1), i, &req, stream)
	}
	seqs[0].forks = seqs[1:]
	e.mu.Lock()
	for _, s := range seqs {
		e.seqs[s.id] = s
	}
	e.mu.Unlock()
	sr := &scheduler.Request{ID: seqs[0].id, NumPromptTokens: len(req.Prompt), MaxTokens: req.MaxTokens, Adapter: req.Adapter, N: req.N}
	if !e.cfg.DisablePrefixCaching {
		sr.BlockHashes = kvcache.HashBlocks(digest, req.Prompt, e.cfg.BlockSize)
		for _, s := range seqs {
			// Each sequence extends its own list: the scheduler owns sr's.
			s.hashes, s.root = append(make([]kvcache.BlockHash, 0, len(sr.BlockHashes)+4), sr.BlockHashes...), digest
		}
	}
	if err := e.sched.Add(sr); err != nil {
		e.mu.Lock()
		for _, s := range seqs {
			delete(e.seqs, s.id)
		}
		e.mu.Unlock()
		e.releaseAdapter(req.Adapter, req.N)
		if errors.Is(err, scheduler.ErrQueueFull) {
			return nil, ErrQueueFull
		}
		return nil, &RequestError{Msg: err.Error()}
	}
	e.promptTokens.Add(uint64(len(req.Prompt)))
	// Forks not yet split off are unknown to the scheduler; cancelling the
	// first sequence ends them with it.
	stream.cancel = func() {
		for _, s := range seqs {
			e.cancel(s.id)
		}
	}
	stream.watch(context.AfterFunc(ctx, stream.cancel))
	e.poke()
	return stream, nil
}

func (e *Engine) cancel(id uint64) {
	if e.sched.Cancel(id) {
		e.poke()
	}
}
