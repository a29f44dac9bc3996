package state

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAPIKeysAreStoredHashedAndRevocable(t *testing.T) {
	s, rdb, _ := newStore(t)
	ctx := context.Background()
	const secret = "graft-secret-value-0123456789"
	k := APIKey{Hash: HashAPIKey(secret), Tenant: "acme", Admin: true, Name: "ci", Prefix: secret[:12], Created: time.UnixMilli(1700000000000)}
	if err := s.PutAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	keys, _ := rdb.Keys(ctx, "*").Result()
	for _, key := range keys {
		vals, _ := rdb.HGetAll(ctx, key).Result()
		for f, v := range vals {
			if strings.Contains(key+f+v, secret[12:]) {
				t.Fatalf("the key's secret part is stored in clear in %s.%s", key, f)
			}
		}
	}
	got, err := s.LookupAPIKey(ctx, HashAPIKey(secret))
	if err != nil || got != k {
		t.Fatalf("lookup: %+v %v, want %+v", got, err, k)
	}
	if _, err := s.LookupAPIKey(ctx, HashAPIKey("graft-other")); !errors.Is(err, ErrNoKey) {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := s.RevokeAPIKey(ctx, "graft-nomatch"); !errors.Is(err, ErrNoKey) {
		t.Fatalf("revoking an unknown id: %v", err)
	}
	if _, err := s.RevokeAPIKey(ctx, k.Prefix); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupAPIKey(ctx, k.Hash); !errors.Is(err, ErrNoKey) {
		t.Fatalf("revoked key still found: %v", err)
	}
	if err := s.PutAPIKey(ctx, APIKey{Hash: "short", Tenant: "acme"}); err == nil {
		t.Fatal("a non-hash was stored")
	}
	if err := s.PutAPIKey(ctx, APIKey{Hash: HashAPIKey("x"), Tenant: "a:b"}); err == nil {
		t.Fatal("a tenant with ':' was stored")
	}
}

func TestAdapterRequestsSumOverSeconds(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	for sec, counts := range map[int64]map[string]int64{
		100: {"a": 2, "b/c": 1},
		101: {"a": 3},
		103: {"a": 100}, // outside the window asked for
	} {
		if err := s.AddAdapterRequests(ctx, "dep", sec, counts); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddAdapterRequests(ctx, "dep", 101, map[string]int64{"a": 1}); err != nil {
		t.Fatal(err)
	}
	got, err := s.AdapterRequests(ctx, "dep", 100, 102)
	if err != nil {
		t.Fatal(err)
	}
	if got["a"] != 6 || got["b/c"] != 1 || len(got) != 2 {
		t.Fatalf("sums: %v", got)
	}
	if other, _ := s.AdapterRequests(ctx, "other", 100, 103); len(other) != 0 {
		t.Fatalf("another deployment's rates: %v", other)
	}
}
