package engine

import (
	"slices"
	"strings"
	"testing"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/compute/cpu"
	"github.com/graft-ai/graft/engine/model"
	"github.com/graft-ai/graft/internal/testmodels"
)

// TestKVCacheDtypeConfig: auto on float32 weights is f32 (the golden runs stay
// exact); f16 fits twice the tokens in the same bytes; unknown types, and f16
// on a backend without half caches, fail New with a clear error.
func TestKVCacheDtypeConfig(t *testing.T) {
	l := loadStories(t, "gguf")
	const bytes = 64 << 20
	auto := newEngine(t, l, Config{KVCacheBytes: bytes})
	if got := auto.Config().KVCacheDtype; got != model.KVF32 {
		t.Errorf("auto on float32 weights: %q, want f32", got)
	}
	half := newEngine(t, l, Config{KVCacheBytes: bytes, KVCacheDtype: "f16"})
	if got, f32 := half.Stats().KVTotal, auto.Stats().KVTotal; got != 2*f32 && got != 2*f32+1 {
		t.Errorf("f16 cache of %d bytes holds %d blocks, want twice f32's %d", bytes, got, f32)
	}
	if _, err := New(l, Config{KVCacheDtype: "int4"}); err == nil || !strings.Contains(err.Error(), `"int4"`) {
		t.Errorf("kv cache dtype int4: error %v, want one naming it", err)
	}

	b := cpu.New(1)
	t.Cleanup(b.Close)
	path := testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf")
	plain, err := Load(path, struct{ compute.Backend }{b}) // hides NewKVCacheF16
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plain.Close() })
	if _, err := New(plain, Config{KVCacheDtype: "f16"}); err == nil || !strings.Contains(err.Error(), "no half-precision KV cache") {
		t.Errorf("f16 on a backend without half caches: error %v", err)
	}
	if e := newEngine(t, plain, Config{}); e.Config().KVCacheDtype != model.KVF32 {
		t.Errorf("auto on a backend without half caches: %q", e.Config().KVCacheDtype)
	}
}

// TestHalfKVCacheEngine: with an f16 cache, batched requests (prefix cache on
// and off, prompts prefilled in chunks) and n-sequence forks under preemption
// (whose partial blocks CopyKVBlock copies) give the tokens each request gets
// alone on an f16 cache without the prefix cache.
func TestHalfKVCacheEngine(t *testing.T) {
	l := loadStories(t, "gguf")
	vocab := l.Model.Config.Vocab
	reqs := append(mixedRequests(24, vocab), sharedPrefixRequests(12, vocab)...)
	alone := newEngine(t, l, Config{MaxNumSeqs: 1, DisablePrefixCaching: true, KVCacheDtype: "f16"})
	want := make([][]int32, len(reqs))
	for i, r := range reqs {
		want[i] = ids(run(t, alone, r))
	}
	for _, cfg := range []Config{
		{MaxNumSeqs: 36, MaxBatchedTokens: 256},
		{MaxNumSeqs: 36, MaxBatchedTokens: 64, DisablePrefixCaching: true},
		{MaxNumSeqs: 36, MaxModelLen: 256, KVCacheBytes: 20 * 16 * l.Model.Config.KVBytesPerToken(model.KVF16)},
	} {
		cfg.KVCacheDtype = "f16"
		e := newEngine(t, l, cfg)
		got := runConcurrently(t, e, reqs)
		for i := range reqs {
			if !slices.Equal(got[i], want[i]) {
				t.Errorf("%+v: request %d batched gave %v, alone %v", cfg, i, got[i], want[i])
			}
		}
		if !cfg.DisablePrefixCaching && cfg.KVCacheBytes == 0 && e.Stats().PrefixCacheHits == 0 {
			t.Errorf("%+v: the shared prefixes never hit the cache", cfg)
		}
		assertNoLeak(t, e)
	}

	tiny := newEngine(t, l, Config{MaxModelLen: 256, KVCacheDtype: "f16",
		KVCacheBytes: 20 * 16 * l.Model.Config.KVBytesPerToken(model.KVF16)})
	prompt := forkPrompt()
	for i, ev := range runN(t, tiny, Request{Prompt: prompt, Sampling: seededParams(3), MaxTokens: 120, IgnoreEOS: true, N: 3}) {
		r := Request{Prompt: prompt, Sampling: seededParams(3 + uint64(i)), MaxTokens: 120, IgnoreEOS: true}
		if want := ids(run(t, alone, r)); !slices.Equal(ids(ev), want) {
			t.Errorf("fork %d on an f16 cache under preemption: %v, want %v", i, ids(ev), want)
		}
	}
	assertNoLeak(t, tiny)
}
