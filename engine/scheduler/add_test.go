package scheduler

import (
	"strings"
	"testing"

	"github.com/graft-ai/graft/engine/kvcache"
)

func TestAddRejects(t *testing.T) {
	h := newHarness(t, Config{MaxNumSeqs: 8, MaxNumBatchedTokens: 64, MaxModelLen: 100}, 4, 4)
	h.add(7, 4, 4)
	for _, c := range []struct {
		r    Request
		want string
	}{
		{Request{ID: 1, NumPromptTokens: 101, MaxTokens: 1}, "exceeds the model's maximum length"},
		{Request{ID: 2, NumPromptTokens: 0, MaxTokens: 1}, "empty prompt"},
		{Request{ID: 3, NumPromptTokens: 4, MaxTokens: 0}, "MaxTokens"},
		{Request{ID: 4, NumPromptTokens: 10, MaxTokens: 8}, "needs up to 5 KV-cache blocks"},
		{Request{ID: 7, NumPromptTokens: 4, MaxTokens: 4}, "already queued"},
	} {
		if err := h.s.Add(&c.r); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Add(%+v) = %v, want an error containing %q", c.r, err, c.want)
		}
	}
	// 10 prompt + 7 outputs computes 16 tokens at most: exactly the pool.
	if err := h.s.Add(&Request{ID: 5, NumPromptTokens: 10, MaxTokens: 7}); err != nil {
		t.Fatalf("request fitting the pool exactly rejected: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	pool := kvcache.NewBlockPool(4, 4)
	for _, cfg := range []Config{
		{MaxNumSeqs: 0, MaxNumBatchedTokens: 1, MaxModelLen: 1},
		{MaxNumSeqs: 1, MaxNumBatchedTokens: 0, MaxModelLen: 1},
		{MaxNumSeqs: 1, MaxNumBatchedTokens: 1, MaxModelLen: 0},
		{MaxNumSeqs: 1, MaxNumBatchedTokens: 1, MaxModelLen: 1, LongPrefillThreshold: -1},
	} {
		if _, err := New(cfg, pool); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	if _, err := New(Config{MaxNumSeqs: 1, MaxNumBatchedTokens: 1, MaxModelLen: 1}, nil); err == nil {
		t.Error("New with a nil pool accepted")
	}
}
