package adaptersource

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/graft-ai/graft/internal/testhub"
)

func hubCache(t *testing.T, h *testhub.Server, token string) (*Cache, string) {
	t.Helper()
	dir := t.TempDir()
	c, err := OpenCache(dir, Sources{Hub: &Hub{Endpoint: h.URL, Token: token}})
	if err != nil {
		t.Fatal(err)
	}
	return c, dir
}

// sameFiles fails unless dir holds exactly the repo's adapter files.
func sameFiles(t *testing.T, dir string, want map[string][]byte) {
	t.Helper()
	for _, name := range AdapterFiles {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want[name]) {
			t.Fatalf("%s differs from the served file (%d vs %d bytes)", name, len(got), len(want[name]))
		}
	}
}

func TestHubFetchesLikeHFHub(t *testing.T) {
	h := newFakeHub(t)
	addAdapter(t, h, "org/qv-r4", "qv-r4")
	c, _ := hubCache(t, h, "")
	ctx := context.Background()
	dir, err := c.Get(ctx, "hf://org/qv-r4")
	if err != nil {
		t.Fatal(err)
	}
	sameFiles(t, dir, h.Files("org/qv-r4"))
	m, err := c.Manifest("hf://org/qv-r4@main")
	if err != nil {
		t.Fatal(err)
	}
	if m.Revision != fakeCommit || m.ID != "hf://org/qv-r4@main" {
		t.Fatalf("manifest id %q revision %q, want hf://org/qv-r4@main at %s", m.ID, m.Revision, fakeCommit)
	}
	// The weights are fetched at the commit the config's HEAD named, from the CDN.
	if n := h.Count("HEAD", "/org/qv-r4/resolve/"+fakeCommit+"/"+WeightsFile); n != 1 {
		t.Fatalf("HEAD of the weights at the resolved commit: %d hits, want 1", n)
	}
	if n := h.Count("GET", "/cdn/org/qv-r4/"+WeightsFile); n != 1 {
		t.Fatalf("CDN GETs: %d, want 1", n)
	}
	if _, err := c.Get(ctx, "hf://org/qv-r4@main"); err != nil {
		t.Fatal(err)
	}
	if n := h.Count("GET", "/cdn/org/qv-r4/"+WeightsFile); n != 1 {
		t.Fatalf("second Get went to the network: %d CDN GETs", n)
	}
}

func TestHubRenamedRepoFollowsRelativeRedirect(t *testing.T) {
	h := newFakeHub(t)
	addAdapter(t, h, "org/qv-r4", "qv-r4")
	c, _ := hubCache(t, h, "")
	dir, err := c.Get(context.Background(), "hf://old-name/qv-r4")
	if err != nil {
		t.Fatal(err)
	}
	sameFiles(t, dir, h.Files("org/qv-r4"))
}

func TestHubGatedRepoNeedsToken(t *testing.T) {
	h := newFakeHub(t)
	addAdapter(t, h, "gated/all-r8", "all-r8")
	c, _ := hubCache(t, h, "")
	if _, err := c.Get(context.Background(), "hf://gated/all-r8"); !errors.Is(err, ErrAuth) {
		t.Fatalf("without a token: %v, want ErrAuth", err)
	}
	// With the token; the fake CDN rejects any Authorization header, so this
	// also shows the token is not sent to another host.
	c, _ = hubCache(t, h, testhub.Token)
	dir, err := c.Get(context.Background(), "hf://gated/all-r8")
	if err != nil {
		t.Fatal(err)
	}
	sameFiles(t, dir, h.Files("gated/all-r8"))
}

func TestHubNotFound(t *testing.T) {
	h := newFakeHub(t)
	addAdapter(t, h, "org/qv-r4", "qv-r4")
	c, dir := hubCache(t, h, "")
	for _, id := range []string{"hf://org/missing", "hf://org/qv-r4@no-such-branch", "hf://nobody"} {
		if _, err := c.Get(context.Background(), id); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", id, err)
		}
	}
	assertEmpty(t, c, dir)
}

func TestHubCorruptDownloadsAreNotCached(t *testing.T) {
	for _, mode := range []string{"size", "size-chunked", "sha", "flip", "git-blob", "truncate"} {
		t.Run(mode, func(t *testing.T) {
			h := newFakeHub(t)
			addAdapter(t, h, "bad/qv-r4", "qv-r4")
			h.Tamper("bad/qv-r4", mode)
			c, dir := hubCache(t, h, "")
			_, err := c.Get(context.Background(), "hf://bad/qv-r4")
			if err == nil {
				t.Fatal("corrupt download accepted")
			}
			if mode != "truncate" && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%v, want ErrCorrupt", err)
			}
			t.Log(err)
			assertEmpty(t, c, dir)
		})
	}
}

func TestHubInvalidAdapterIsNotCached(t *testing.T) {
	h := newFakeHub(t)
	addAdapter(t, h, "org/no-rank", "qv-r4")
	h.SetFile("org/no-rank", ConfigFile, []byte(`{"peft_type":"LORA","target_modules":["q_proj"]}`))
	c, dir := hubCache(t, h, "")
	if _, err := c.Get(context.Background(), "hf://org/no-rank"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("%v, want ErrInvalid", err)
	}
	assertEmpty(t, c, dir)
}

// assertEmpty fails if anything was stored: no listed entry, no entry dir, no
// temp leftovers.
func assertEmpty(t *testing.T, c *Cache, dir string) {
	t.Helper()
	if l, err := c.List(); err != nil || len(l) != 0 {
		t.Fatalf("List = %v, %v; want nothing cached", l, err)
	}
	for _, sub := range []string{"adapters", "tmp"} {
		des, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil || len(des) != 0 {
			t.Fatalf("%s holds %d entries (%v), want none", sub, len(des), err)
		}
	}
}

func TestConcurrentGetsFetchOnce(t *testing.T) {
	h := newFakeHub(t)
	addAdapter(t, h, "org/qv-r4", "qv-r4")
	c, _ := hubCache(t, h, "")
	var wg sync.WaitGroup
	dirs := make([]string, 16)
	errs := make([]error, 16)
	for i := range dirs {
		wg.Go(func() { dirs[i], errs[i] = c.Get(context.Background(), "hf://org/qv-r4") })
	}
	wg.Wait()
	for i := range dirs {
		if errs[i] != nil || dirs[i] != dirs[0] {
			t.Fatalf("Get %d = %q, %v; want %q", i, dirs[i], errs[i], dirs[0])
		}
	}
	for _, p := range []string{"/org/qv-r4/resolve/main/" + ConfigFile, "/cdn/org/qv-r4/" + WeightsFile} {
		if n := h.Count("GET", p); n != 1 {
			t.Fatalf("GET %s: %d hits, want 1", p, n)
		}
	}
}

func TestDifferentIDsFetchInParallel(t *testing.T) {
	h := newFakeHub(t)
	addAdapter(t, h, "org/a", "qv-r4")
	addAdapter(t, h, "org/b", "all-r8")
	// Each CDN download waits until the other has started: serialised fetches
	// would never finish (the context below turns that into a failure).
	var arrived sync.WaitGroup
	arrived.Add(2)
	h.BeforeCDN = func() { arrived.Done(); arrived.Wait() }
	c, _ := hubCache(t, h, "")
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	var wg sync.WaitGroup
	for _, id := range []string{"hf://org/a", "hf://org/b"} {
		wg.Go(func() {
			if _, err := c.Get(ctx, id); err != nil {
				t.Errorf("%s: %v", id, err)
			}
		})
	}
	wg.Wait()
}

func TestCacheSurvivesRestart(t *testing.T) {
	h := newFakeHub(t)
	addAdapter(t, h, "org/qv-r4", "qv-r4")
	c, dir := hubCache(t, h, "")
	first, err := c.Get(context.Background(), "hf://org/qv-r4")
	if err != nil {
		t.Fatal(err)
	}
	h.Close() // the source is gone; the cache must not need it
	h.CDN.Close()
	c2, err := OpenCache(dir, Sources{Hub: &Hub{Endpoint: h.URL}})
	if err != nil {
		t.Fatal(err)
	}
	again, err := c2.Get(context.Background(), "hf://org/qv-r4@main")
	if err != nil || again != first {
		t.Fatalf("after restart Get = %q, %v; want %q", again, err, first)
	}
	l, err := c2.List()
	if err != nil || len(l) != 1 || l[0].Manifest.ID != "hf://org/qv-r4@main" {
		t.Fatalf("List = %+v, %v", l, err)
	}
}

func TestOpenCacheCleansInterruptedFetches(t *testing.T) {
	h := newFakeHub(t)
	addAdapter(t, h, "org/qv-r4", "qv-r4")
	c, dir := hubCache(t, h, "")
	ref, _ := ParseRef("hf://org/qv-r4")
	// A crash mid-download leaves a temp dir; an entry without a manifest (which
	// this code never renames into place, but a copy or a disk error might) is
	// not complete either.
	stale := filepath.Join(dir, "tmp", "fetch-123")
	half := c.entryDir(ref)
	for _, d := range []string{stale, half} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, WeightsFile), []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := OpenCache(dir, Sources{Hub: &Hub{Endpoint: h.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temp dir survived OpenCache: %v", err)
	}
	if l, _ := c.List(); len(l) != 0 {
		t.Fatalf("incomplete entry listed: %+v", l)
	}
	got, err := c.Get(context.Background(), "hf://org/qv-r4")
	if err != nil || got != half {
		t.Fatalf("Get = %q, %v; want a fresh fetch into %q", got, err, half)
	}
	sameFiles(t, got, h.Files("org/qv-r4"))
}

func TestRemove(t *testing.T) {
	h := newFakeHub(t)
	addAdapter(t, h, "org/qv-r4", "qv-r4")
	c, dir := hubCache(t, h, "")
	ctx := context.Background()
	if _, err := c.Get(ctx, "hf://org/qv-r4"); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove("hf://org/qv-r4@main"); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, c, dir)
	if err := c.Remove("hf://org/qv-r4"); err != nil {
		t.Fatalf("removing an absent entry: %v", err)
	}
	if _, err := c.Get(ctx, "hf://org/qv-r4"); err != nil {
		t.Fatal(err)
	}
	if n := h.Count("GET", "/cdn/org/qv-r4/"+WeightsFile); n != 2 {
		t.Fatalf("CDN GETs after Remove and Get: %d, want 2", n)
	}
}
