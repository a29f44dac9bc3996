package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/graft-ai/graft/deploy/state"
)

// keyStore is the part of deploy/state the gateway's key checks use.
type keyStore interface {
	LookupAPIKey(ctx context.Context, hash string) (state.APIKey, error)
}

// keyCacheTTL bounds how long a revoked key may still pass: lookups are
// cached so that Redis is not on every request's path.
const keyCacheTTL = 5 * time.Second

// Keys authenticates bearer tokens against the stored keys.
type Keys struct {
	store keyStore
	mu    sync.Mutex
	cache map[string]cachedKey
}

type cachedKey struct {
	key     state.APIKey
	err     error
	expires time.Time
}

func newKeys(s keyStore) *Keys { return &Keys{store: s, cache: map[string]cachedKey{}} }

// Authenticate checks an Authorization header value.
func (k *Keys) Authenticate(ctx context.Context, authorization string) (state.APIKey, error) {
	token, ok := strings.CutPrefix(authorization, "Bearer ")
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		return state.APIKey{}, unauthorized("You didn't provide an API key. Provide it in the Authorization header (Bearer YOUR_KEY).")
	}
	hash := state.HashAPIKey(token)
	now := time.Now()
	k.mu.Lock()
	c, hit := k.cache[hash]
	k.mu.Unlock()
	if !hit || now.After(c.expires) {
		if inline(ctx) {
			return state.APIKey{}, errWouldBlock
		}
		c.key, c.err = k.store.LookupAPIKey(ctx, hash)
		if c.err != nil && !errors.Is(c.err, state.ErrNoKey) {
			return state.APIKey{}, unavailable("the key store is unreachable; try again", time.Second)
		}
		c.expires = now.Add(keyCacheTTL)
		k.mu.Lock()
		if len(k.cache) > 100_000 {
			clear(k.cache) // bounded: a flood of random keys cannot grow it
		}
		k.cache[hash] = c
		k.mu.Unlock()
	}
	if c.err != nil {
		return state.APIKey{}, unauthorized("Incorrect API key provided.")
	}
	return c.key, nil
}

// NewAPIKey makes a random key and its record; the key is shown once and
// only its hash is stored.
func NewAPIKey(tenant, name string, admin bool) (string, state.APIKey) {
	key := "graft-" + rand.Text() + rand.Text() // 256 random bits
	return key, state.APIKey{Hash: state.HashAPIKey(key), Tenant: tenant, Admin: admin, Name: name,
		Prefix: key[:12], Created: time.Now()}
}

func (k *Keys) drop(hash string) {
	k.mu.Lock()
	delete(k.cache, hash)
	k.mu.Unlock()
}
