package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/internal/testserver"
)

// TestKeysCommands: create prints a key once, list shows its id and never
// the key, the stored hash authenticates it, revoke removes it.
func TestKeysCommands(t *testing.T) {
	rds := testserver.Redis(t)
	env := []string{"GRAFT_REDIS=redis://" + rds.Addr}
	r := graft(t, env, "keys", "create", "--tenant", "acme", "--admin", "--name", "ops", "--json")
	var created struct {
		Key, Tenant, ID string
		Admin           bool
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &created) != nil || !strings.HasPrefix(created.Key, "graft-") || !created.Admin {
		t.Fatalf("create: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = graft(t, env, "keys", "list")
	if r.code != 0 || !strings.Contains(r.stdout, created.ID) || strings.Contains(r.stdout, created.Key) {
		t.Fatalf("list: %d %q (key %s)", r.code, r.stdout, created.Key)
	}
	store, err := state.Open("redis://" + rds.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if k, err := store.LookupAPIKey(context.Background(), state.HashAPIKey(created.Key)); err != nil || k.Tenant != "acme" {
		t.Fatalf("stored key: %+v %v", k, err)
	}
	if r = graft(t, env, "keys", "revoke", created.ID); r.code != 0 {
		t.Fatalf("revoke: %d %s", r.code, r.stderr)
	}
	if _, err := store.LookupAPIKey(context.Background(), state.HashAPIKey(created.Key)); err == nil {
		t.Fatal("a revoked key still authenticates")
	}
	if r = graft(t, env, "keys", "revoke", created.ID); r.code != 1 || !strings.Contains(r.stderr, "no such API key") {
		t.Fatalf("revoking twice: %d %s", r.code, r.stderr)
	}
	if r = graft(t, env, "keys", "create", "--tenant", "a:b"); r.code != 2 {
		t.Fatalf("bad tenant: %d %s", r.code, r.stderr)
	}
}
