package scheduler

import (
	"slices"
	"testing"

	"github.com/graft-ai/graft/engine/kvcache"
)

// classTokens are the prompt tokens of content class c: equal classes, equal
// tokens position by position.
func classTokens(c uint64, n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(c*1000 + uint64(i))
	}
	return out
}

// addClass queues a request whose prompt is class c's first prompt tokens.
func (h *harness) addClass(id uint64, c uint64, prompt, maxTokens int) *Request {
	h.t.Helper()
	r := &Request{ID: id, NumPromptTokens: prompt, MaxTokens: maxTokens,
		BlockHashes: kvcache.HashBlocks([32]byte{}, classTokens(c, prompt), h.pool.BlockSize())}
	h.runner.prompts[id] = promptClass{class: c, length: prompt}
	if err := h.s.Add(r); err != nil {
		h.t.Fatal(err)
	}
	h.reqs = append(h.reqs, r)
	return r
}

func scheduled(out *Output, id uint64) *Scheduled {
	for i := range out.Scheduled {
		if out.Scheduled[i].ID == id {
			return &out.Scheduled[i]
		}
	}
	return nil
}

var prefixCfg = Config{MaxNumSeqs: 8, MaxNumBatchedTokens: 64, MaxModelLen: 64, PrefixCaching: true}

// TestPrefixHitSharesBlocks: a request whose prompt starts like a computed one
// takes its full blocks (the fake runner checks they hold the class's
// entries) and computes only the rest; the counters are in tokens.
func TestPrefixHitSharesBlocks(t *testing.T) {
	h := newHarness(t, prefixCfg, 32, 4)
	a := h.addClass(1, 7, 10, 5)
	h.step()
	b := h.addClass(2, 7, 11, 5)
	out := h.step()
	sb, sa := scheduled(out, b.ID), scheduled(out, a.ID)
	if sb == nil || !sb.Admitted || sb.Start != 8 || sb.NumNew != 3 {
		t.Fatalf("second request scheduled as %+v, want admitted at 8 computing 3", sb)
	}
	if !slices.Equal(sb.Blocks[:2], sa.Blocks[:2]) || h.pool.Refs(sa.Blocks[0]) != 2 {
		t.Fatalf("blocks %v and %v: the cached prefix is not shared", sb.Blocks, sa.Blocks)
	}
	h.drain(100)
	st := h.s.Stats().Prefix
	if st.Queries != 21 || st.Hits != 8 {
		t.Fatalf("prefix stats %+v, want 21 queried, 8 hit", st)
	}
}

// TestFullPromptHitLeavesOneToken: a prompt made of cached full blocks still
// computes its last block, whose last position gives the logits to sample.
func TestFullPromptHitLeavesOneToken(t *testing.T) {
	h := newHarness(t, prefixCfg, 32, 4)
	h.addClass(1, 3, 8, 2)
	h.drain(100)
	b := h.addClass(2, 3, 8, 2)
	out := h.step()
	if sb := scheduled(out, b.ID); sb == nil || sb.Start != 4 || sb.NumNew != 4 {
		t.Fatalf("scheduled %+v, want start 4 computing 4", sb)
	}
	h.drain(100)
}

// TestFreedPrefixStaysUntilEvicted: blocks of a finished request stay cached
// in the free queue; they serve a later request, and are evicted, least
// recently freed first, only when the pool needs them for other contents.
func TestFreedPrefixStaysUntilEvicted(t *testing.T) {
	h := newHarness(t, prefixCfg, 8, 4)
	h.addClass(1, 1, 12, 1)
	h.drain(100)
	if n := h.pool.NumCachedBlocks(); n != 3 {
		t.Fatalf("%d cached blocks after the request ended, want 3", n)
	}
	out := func() *Output { return h.step() }
	h.addClass(2, 1, 13, 1)
	if sc := scheduled(out(), 2); sc.Start != 12 {
		t.Fatalf("request after the first ended starts at %d, want 12", sc.Start)
	}
	h.drain(100)
	// Eight blocks of other contents evict the class-1 blocks.
	h.addClass(3, 2, 31, 1)
	h.drain(100)
	if ev := h.s.Stats().Prefix.Evictions; ev == 0 {
		t.Fatal("filling the pool evicted no cached block")
	}
	h.addClass(4, 1, 13, 1)
	if sc := scheduled(out(), 4); sc.Start != 0 {
		t.Fatalf("request for evicted contents starts at %d, want 0", sc.Start)
	}
	h.drain(100)
}

// TestEvictionTakesTheTailFirst: when part of a freed prefix must go, its end
// goes, so its start still serves.
func TestEvictionTakesTheTailFirst(t *testing.T) {
	h := newHarness(t, prefixCfg, 8, 4)
	h.addClass(1, 1, 16, 1) // 4 blocks, all cached once freed
	h.drain(100)
	h.addClass(2, 2, 20, 1) // 5 blocks: 4 free uncached, then 1 cached evicted
	h.drain(100)
	h.addClass(3, 1, 17, 1)
	if sc := scheduled(h.step(), 3); sc.Start != 12 {
		t.Fatalf("after evicting one block of a 4-block prefix, a hit of %d tokens, want 12", sc.Start)
	}
	h.drain(100)
}

// TestPrefixCachingOffIgnoresHashes: without PrefixCaching nothing is looked up
// or indexed.
func TestPrefixCachingOffIgnoresHashes(t *testing.T) {
	cfg := prefixCfg
	cfg.PrefixCaching = false
	h := newHarness(t, cfg, 32, 4)
	h.addClass(1, 7, 10, 1)
	h.drain(100)
	h.addClass(2, 7, 10, 1)
	if sc := scheduled(h.step(), 2); sc.Start != 0 {
		t.Fatalf("start %d with prefix caching off", sc.Start)
	}
	h.drain(100)
	if st := h.s.Stats().Prefix; st != (PrefixStats{}) {
		t.Fatalf("prefix stats %+v with caching off", st)
	}
}

// TestPreemptedRequestReusesItsPrefix: a preempted request's freed prompt
// blocks are still cached when it comes back, unless evicted meanwhile.
func TestPreemptedRequestReusesItsPrefix(t *testing.T) {
	h := newHarness(t, Config{MaxNumSeqs: 4, MaxNumBatchedTokens: 64, MaxModelLen: 64, PrefixCaching: true}, 10, 4)
	h.addClass(1, 1, 16, 20)
	h.addClass(2, 2, 16, 20)
	h.drain(400)
	st := h.s.Stats().Prefix
	if st.Queries <= 32 {
		t.Fatalf("prefix stats %+v: no request was preempted", st)
	}
	if st.Hits == 0 {
		t.Fatalf("prefix stats %+v: the preempted request recomputed its cached prompt", st)
	}
}

// TestBurstComputesASharedPrefixOnce: requests arriving together with one
// new prompt wait for the first to compute it rather than each computing it
// in parallel, then take it from the cache.
func TestBurstComputesASharedPrefixOnce(t *testing.T) {
	cfg := Config{MaxNumSeqs: 8, MaxNumBatchedTokens: 64, LongPrefillThreshold: 8, MaxModelLen: 64, PrefixCaching: true}
	h := newHarness(t, cfg, 64, 4)
	for id := range uint64(4) {
		h.addClass(id, 9, 40, 3)
	}
	first := h.step()
	if len(first.Scheduled) != 1 {
		t.Fatalf("first step ran %d requests; the others should wait for the shared prompt", len(first.Scheduled))
	}
	h.drain(100)
	if st := h.s.Stats().Prefix; st.Hits != 3*36 {
		t.Fatalf("prefix stats %+v: want 3 requests finding 36 tokens each", st)
	}
}
