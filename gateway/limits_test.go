package gateway

import (
	"context"
	"testing"
	"time"
)

func TestBucketBurstsThenRefillsEvenly(t *testing.T) {
	var b bucket
	t0 := time.Unix(1000, 0)
	for i := range 60 {
		if ok, _ := b.take(1, 60, t0); !ok {
			t.Fatalf("request %d of a 60/min burst refused", i)
		}
	}
	ok, wait := b.take(1, 60, t0)
	if ok || wait != time.Second {
		t.Fatalf("61st request: ok=%v wait=%v, want a refusal for 1s", ok, wait)
	}
	if ok, _ := b.take(1, 60, t0.Add(time.Second)); !ok {
		t.Fatal("a second later one request's worth had not refilled")
	}
	if ok, _ := b.take(500, 100, t0.Add(time.Hour)); !ok {
		t.Fatal("a request larger than a minute's allowance never runs")
	}
}

func TestLimiterChargesRequestsAndTokens(t *testing.T) {
	l := newLimiter()
	if e := admitNow(l, "k", 0, 0, 1e9); e != nil {
		t.Fatalf("no limits, refused: %v", e)
	}
	for range 2 {
		if e := admitNow(l, "k", 2, 0, 10); e != nil {
			t.Fatal(e)
		}
	}
	e := admitNow(l, "k", 2, 0, 10)
	if e == nil || e.status != 429 || e.retryAfter <= 0 {
		t.Fatalf("third request at 2/min: %+v", e)
	}
	if e := admitNow(l, "other", 2, 0, 10); e != nil {
		t.Fatalf("another key shares the bucket: %v", e)
	}
	if e := admitNow(l, "t", 10, 100, 80); e != nil {
		t.Fatal(e)
	}
	if e := admitNow(l, "t", 10, 100, 80); e == nil || e.code != "rate_limit_exceeded" {
		t.Fatalf("token limit not enforced: %+v", e)
	}
	// The token refusal gave its request back: 8 more fit under rpm 10.
	for i := range 8 {
		if e := admitNow(l, "t", 10, 0, 1); e != nil {
			t.Fatalf("request %d after a token refusal: %v", i, e)
		}
	}
	if n := estimateTokens(nil, 400, false); n != 116 {
		t.Fatalf("completion estimate %d", n)
	}
	m := 7
	if n := estimateTokens(&m, 40, true); n != 17 {
		t.Fatalf("chat estimate with max_tokens %d", n)
	}
}

func TestSettleReturnsWhatWasNotUsed(t *testing.T) {
	l := newLimiter()
	if e := admitNow(l, "k", 0, 100, 80); e != nil {
		t.Fatal(e)
	}
	l.settle("k", 100, 80, 5) // used 5 of the 80 reserved
	if e := admitNow(l, "k", 0, 100, 80); e != nil {
		t.Fatalf("the unused reservation was not given back: %v", e)
	}
	l.settle("k", 100, 80, 200) // used far more than reserved: overdraft
	if e := admitNow(l, "k", 0, 100, 1); e == nil {
		t.Fatal("an overdrawn key was admitted")
	}
	l.settle("unknown", 100, 10, 0) // no bucket: nothing to settle, no panic
}

func admitNow(l *limiter, hash string, rpm, tpm, tokens int) *apiError {
	e, _ := l.admit(hash, rpm, tpm, tokens)
	return e
}

// A request short of tokens is admitted once a finished request's
// settlement, which may trail it, gives tokens back.
func TestLimiterWaitsForSettlement(t *testing.T) {
	l := newLimiter()
	if e := admitNow(l, "k", 0, 100, 80); e != nil {
		t.Fatal(e)
	}
	done := make(chan *apiError)
	go func() { done <- l.admitOrWait(context.Background(), "k", 0, 100, 80) }()
	l.settle("k", 100, 80, 5)
	if e := <-done; e != nil {
		t.Fatalf("refused after the settlement: %v", e.message)
	}
	// Nothing left to settle: refused (after the grace).
	if e := l.admitOrWait(context.Background(), "k", 0, 100, 80); e == nil {
		t.Fatal("admitted beyond the limit")
	}
}
