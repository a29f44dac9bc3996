package gateway

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// limiter enforces each key's requests and tokens per minute with token
// buckets: a full minute's allowance may burst, then it refills evenly.
// Tokens are reserved at admission from the request's max_tokens plus an
// estimate of its prompt, since the gateway decides before the replica has
// counted anything.
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*buckets // by key hash
}

type buckets struct {
	requests, tokens bucket
	// settled is closed (and replaced) whenever a settlement returns tokens.
	settled chan struct{}
}

type bucket struct {
	level float64 // available units
	at    time.Time
}

// take removes n units from a bucket of capacity perMinute, or says how long
// until it could.
func (b *bucket) take(n, perMinute float64, now time.Time) (ok bool, wait time.Duration) {
	if b.at.IsZero() {
		b.level, b.at = perMinute, now
	}
	b.level = math.Min(perMinute, b.level+now.Sub(b.at).Minutes()*perMinute)
	b.at = now
	if n > perMinute {
		n = perMinute // one request larger than a minute's allowance runs alone
	}
	if b.level >= n {
		b.level -= n
		return true, 0
	}
	return false, time.Duration((n - b.level) / perMinute * float64(time.Minute))
}

func newLimiter() *limiter { return &limiter{buckets: map[string]*buckets{}} }

// settleGrace is how long a request short of tokens waits for a finished
// request's settlement. Settlements come on the usage filter's own stream,
// which Envoy does not wait on, so one may trail the client's next request
// by a moment; without the wait that request would be refused for tokens
// already given back.
const settleGrace = 250 * time.Millisecond

// admitOrWait is admit, waiting up to settleGrace for settlements when
// the key is short of tokens.
func (l *limiter) admitOrWait(ctx context.Context, hash string, rpm, tpm int, tokens int) *apiError {
	var deadline *time.Timer // made only when waiting: most requests never do
	for {
		ae, settled := l.admit(hash, rpm, tpm, tokens)
		if settled == nil {
			return ae
		}
		if inline(ctx) {
			return errWouldBlock // refused before anything was charged
		}
		if deadline == nil {
			deadline = time.NewTimer(settleGrace)
			defer deadline.Stop()
		}
		select {
		case <-settled:
		case <-deadline.C:
			return ae
		case <-ctx.Done():
			return ae
		}
	}
}

// admit charges one request of about tokens tokens to key. Refused for
// tokens, it also returns a channel closed at the key's next settlement.
func (l *limiter) admit(hash string, rpm, tpm int, tokens int) (*apiError, <-chan struct{}) {
	if rpm <= 0 && tpm <= 0 {
		return nil, nil
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[hash]
	if b == nil {
		b = &buckets{}
		l.buckets[hash] = b
	}
	if rpm > 0 {
		if ok, wait := b.requests.take(1, float64(rpm), now); !ok {
			return rateLimited(fmt.Sprintf("Rate limit reached for requests: limit %d per minute. Try again in %v.", rpm, wait.Round(time.Millisecond)), wait), nil
		}
	}
	if tpm > 0 {
		if ok, wait := b.tokens.take(float64(tokens), float64(tpm), now); !ok {
			if rpm > 0 {
				b.requests.level++ // the request was not admitted after all
			}
			if b.settled == nil {
				b.settled = make(chan struct{})
			}
			return rateLimited(fmt.Sprintf("Rate limit reached for tokens: limit %d per minute, this request needs about %d. Try again in %v.",
				tpm, tokens, wait.Round(time.Millisecond)), wait), b.settled
		}
	}
	return nil, nil
}

// settle gives back what a request reserved beyond what it used, or takes
// the excess when the estimate fell short (the bucket may go below zero:
// the key then waits for the overdraft to refill).
func (l *limiter) settle(hash string, tpm, reserved, used int) {
	if tpm <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[hash]
	if b == nil {
		return
	}
	b.tokens.level = math.Min(float64(tpm), b.tokens.level+float64(reserved-used))
	if b.settled != nil {
		close(b.settled)
		b.settled = nil
	}
}

// estimateTokens is what admission reserves: the completion's bound (or
// OpenAI's default of 16 when a completion request names none, and a
// chat-sized default otherwise) plus about a token per four bytes of body.
func estimateTokens(maxTokens *int, bodyBytes int, chat bool) int {
	out := 16
	if chat {
		out = 512
	}
	if maxTokens != nil && *maxTokens > 0 {
		out = *maxTokens
	}
	return out + bodyBytes/4
}
