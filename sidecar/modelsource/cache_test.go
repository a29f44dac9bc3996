package modelsource

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graft-ai/graft/internal/testhub"
	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/sidecar/adaptersource"
)

const repo = "graft-ai/stories260K"

// hubWithStories serves the stories260K Hugging Face folder as repo.
func hubWithStories(t *testing.T) *testhub.Server {
	t.Helper()
	h := testhub.New(t)
	h.AddDir(t, repo, testmodels.Path(t, "stories260K", "hf"))
	return h
}

func newCache(t *testing.T, h *testhub.Server) *Cache {
	return &Cache{Dir: t.TempDir(), Hub: &adaptersource.Hub{Endpoint: h.URL}}
}

func get(t *testing.T, c *Cache, id string) (Model, error) {
	t.Helper()
	ref, err := ParseRef(id)
	if err != nil {
		t.Fatal(err)
	}
	return c.Get(context.Background(), ref)
}

// sameFiles fails unless dir holds every file of want, byte for byte.
func sameFiles(t *testing.T, dir string, want map[string][]byte) {
	t.Helper()
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, b) {
			t.Fatalf("%s differs from the served file", name)
		}
	}
}

func TestFetchesModelOnceAndLoadsFromCache(t *testing.T) {
	h := hubWithStories(t)
	c := newCache(t, h)
	m, err := get(t, c, "hf://"+repo)
	if err != nil {
		t.Fatal(err)
	}
	if m.Commit != testhub.Commit || filepath.Base(m.Path) != testhub.Commit {
		t.Fatalf("model %+v, want the snapshot folder of %s", m, testhub.Commit)
	}
	sameFiles(t, m.Path, h.Files(repo))
	weights := testhub.CDNPath(repo, SingleFile)
	if n := h.Count("GET", weights); n != 1 {
		t.Fatalf("weight GETs %d, want 1", n)
	}
	// The weights were asked for at the listed commit, never at the branch.
	if n := h.Count("HEAD", "/"+repo+"/resolve/"+testhub.Commit+"/"+SingleFile); n != 1 {
		t.Fatalf("HEAD of the weights at the commit: %d, want 1", n)
	}
	again, err := get(t, c, "hf://"+repo+"@main")
	if err != nil || again.Path != m.Path {
		t.Fatalf("second Get = %+v, %v", again, err)
	}
	if n := h.Count("GET", weights); n != 1 {
		t.Fatalf("second Get downloaded the weights again (%d GETs)", n)
	}
	// A commit id that is cached needs no Hub at all.
	h.Close()
	pinned, err := get(t, c, "hf://"+repo+"@"+testhub.Commit)
	if err != nil || pinned.Path != m.Path {
		t.Fatalf("pinned Get with the Hub down = %+v, %v", pinned, err)
	}
}

func TestBranchMovesThenOffline(t *testing.T) {
	h := hubWithStories(t)
	c := newCache(t, h)
	first, err := get(t, c, "hf://"+repo)
	if err != nil {
		t.Fatal(err)
	}
	next := strings.Repeat("1", 40)
	h.SetCommit(repo, next)
	moved, err := get(t, c, "hf://"+repo)
	if err != nil || moved.Commit != next || moved.Path == first.Path {
		t.Fatalf("after the branch moved: %+v, %v; want commit %s in a new snapshot", moved, err, next)
	}
	h.Close() // network down: the commit main last resolved to is used
	h.CDN.Close()
	down, err := get(t, c, "hf://"+repo)
	if err != nil || down.Commit != next {
		t.Fatalf("Hub down: %+v, %v; want the cached commit %s", down, err, next)
	}
	c.Offline = true
	off, err := get(t, c, "hf://"+repo)
	if err != nil || off.Commit != next {
		t.Fatalf("offline: %+v, %v", off, err)
	}
	if _, err := get(t, c, "hf://"+repo+"@v2"); err == nil || !strings.Contains(err.Error(), "never fetched") {
		t.Fatalf("offline, uncached revision: %v", err)
	}
	c.Offline = false
	if _, err := get(t, c, "hf://other/model"); err == nil || !strings.Contains(err.Error(), "hf://other/model@main") {
		t.Fatalf("Hub down, nothing cached: %v; want an error naming the model", err)
	}
}

func TestCorruptDownloadLeavesNothing(t *testing.T) {
	for _, mode := range []string{testhub.TamperSHA, testhub.TamperSize, testhub.TamperTruncate, testhub.TamperGitBlob} {
		t.Run(mode, func(t *testing.T) {
			h := hubWithStories(t)
			h.Tamper(repo, mode)
			c := newCache(t, h)
			_, err := get(t, c, "hf://"+repo)
			if err == nil {
				t.Fatal("corrupt download accepted")
			}
			if mode != testhub.TamperTruncate && !errors.Is(err, adaptersource.ErrCorrupt) {
				t.Fatalf("%v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), "hf://"+repo+"@main") {
				t.Fatalf("error %q does not name the model", err)
			}
			t.Log(err)
			assertNoSnapshot(t, c)
			h.Tamper(repo, "")
			m, err := get(t, c, "hf://"+repo)
			if err != nil {
				t.Fatalf("after the server mends: %v", err)
			}
			sameFiles(t, m.Path, h.Files(repo))
		})
	}
}

func TestStalledDownloadEnds(t *testing.T) {
	h := hubWithStories(t)
	h.Tamper(repo, testhub.TamperStall)
	c := &Cache{Dir: t.TempDir(), Hub: &adaptersource.Hub{Endpoint: h.URL, StallTimeout: 100 * time.Millisecond}}
	_, err := get(t, c, "hf://"+repo)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "model.safetensors: download stalled") {
		t.Fatalf("%v; want the stall named, as a timeout", err)
	}
	assertNoSnapshot(t, c)
}

// assertNoSnapshot fails if a snapshot, a ref or a download is left behind.
func assertNoSnapshot(t *testing.T, c *Cache) {
	t.Helper()
	for _, sub := range []string{"snapshots", "refs", "tmp"} {
		des, _ := os.ReadDir(filepath.Join(c.Dir, "graft-ai--stories260K", sub))
		if len(des) != 0 {
			t.Fatalf("%s holds %d entries, want none", sub, len(des))
		}
	}
}

func TestHubErrorsNameTheModel(t *testing.T) {
	h := hubWithStories(t)
	h.AddRepo("gated/model", h.Files(repo))
	c := newCache(t, h)
	for _, c2 := range []struct {
		id   string
		want error
	}{
		{"hf://graft-ai/missing", adaptersource.ErrNotFound},
		{"hf://" + repo + "@no-such-branch", adaptersource.ErrNotFound},
		{"hf://gated/model", adaptersource.ErrAuth},
	} {
		_, err := get(t, c, c2.id)
		if !errors.Is(err, c2.want) || !strings.Contains(err.Error(), strings.TrimPrefix(c2.id, "hf://")) {
			t.Errorf("%s: %v; want %v naming the model", c2.id, err, c2.want)
		}
	}
	c.Hub = &adaptersource.Hub{Endpoint: h.URL, Token: testhub.Token}
	if _, err := get(t, c, "hf://gated/model"); err != nil {
		t.Fatalf("gated repo with the token: %v", err)
	}
}

func TestGGUFRepos(t *testing.T) {
	gguf, err := os.ReadFile(testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	h := testhub.New(t)
	h.AddRepo("org/one-GGUF", map[string][]byte{"README.md": []byte("hi"), "stories260K.gguf": gguf})
	h.AddRepo("org/two-GGUF", map[string][]byte{"a/stories-f32.gguf": gguf, "stories-q8.gguf": gguf})
	c := newCache(t, h)
	m, err := get(t, c, "hf://org/one-GGUF")
	if err != nil || filepath.Base(m.Path) != "stories260K.gguf" {
		t.Fatalf("one GGUF: %+v, %v", m, err)
	}
	if b, _ := os.ReadFile(m.Path); !bytes.Equal(b, gguf) {
		t.Fatal("GGUF differs from the served file")
	}
	if h.Count("HEAD", "/org/one-GGUF/resolve/"+testhub.Commit+"/README.md") != 0 {
		t.Fatal("fetched a file the engine does not load")
	}
	_, err = get(t, c, "hf://org/two-GGUF")
	if !errors.Is(err, ErrNoWeights) || !strings.Contains(err.Error(), "a/stories-f32.gguf, stories-q8.gguf") ||
		!strings.Contains(err.Error(), "hf://org/two-GGUF/FILE.gguf") {
		t.Fatalf("two GGUFs: %v; want the files listed and the selector syntax", err)
	}
	sel, err := get(t, c, "hf://org/two-GGUF/a/stories-f32.gguf")
	if err != nil || !strings.HasSuffix(sel.Path, filepath.Join("a", "stories-f32.gguf")) {
		t.Fatalf("selected GGUF: %+v, %v", sel, err)
	}
	if _, err := get(t, c, "hf://org/two-GGUF/nope.gguf"); !errors.Is(err, ErrNoWeights) || !strings.Contains(err.Error(), "stories-q8.gguf") {
		t.Fatalf("missing selected file: %v", err)
	}
}

func TestRepoWithoutLoadableWeights(t *testing.T) {
	h := testhub.New(t)
	h.AddRepo("org/torch-only", map[string][]byte{"config.json": []byte("{}"), "pytorch_model.bin": []byte("x")})
	c := newCache(t, h)
	_, err := get(t, c, "hf://org/torch-only")
	if !errors.Is(err, ErrNoWeights) || !strings.Contains(err.Error(), "pytorch_model.bin") {
		t.Fatalf("%v; want ErrNoWeights listing the repository's files", err)
	}
}

func TestShardedSafetensorsFollowTheIndex(t *testing.T) {
	files := hubWithStories(t).Files(repo)
	weights := files[SingleFile]
	delete(files, SingleFile)
	files["model-00001-of-00001.safetensors"] = weights
	files["consolidated.safetensors"] = weights // not in the index: never fetched
	files[IndexFile] = []byte(`{"metadata": {}, "weight_map": {"a": "model-00001-of-00001.safetensors", "b": "model-00001-of-00001.safetensors"}}`)
	h := testhub.New(t)
	h.AddRepo(repo, files)
	c := newCache(t, h)
	m, err := get(t, c, "hf://"+repo)
	if err != nil {
		t.Fatal(err)
	}
	delete(files, "consolidated.safetensors")
	sameFiles(t, m.Path, files)
	if _, err := os.Stat(filepath.Join(m.Path, "consolidated.safetensors")); !os.IsNotExist(err) {
		t.Fatalf("a file outside the index was fetched: %v", err)
	}
}

func TestConcurrentStartsDownloadOnce(t *testing.T) {
	h := hubWithStories(t)
	dir := t.TempDir()
	var wg sync.WaitGroup
	paths := make([]string, 8)
	errs := make([]error, 8)
	for i := range paths {
		// Separate Cache values, each with its own lock file descriptor, as
		// separate processes would have.
		c := &Cache{Dir: dir, Hub: &adaptersource.Hub{Endpoint: h.URL}}
		wg.Go(func() {
			var m Model
			m, errs[i] = get(t, c, "hf://"+repo)
			paths[i] = m.Path
		})
	}
	wg.Wait()
	for i := range paths {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Fatalf("start %d: %q, %v", i, paths[i], errs[i])
		}
	}
	if n := h.Count("GET", testhub.CDNPath(repo, SingleFile)); n != 1 {
		t.Fatalf("weight GETs %d, want 1", n)
	}
}

func TestParseRef(t *testing.T) {
	for id, want := range map[string]Ref{
		"hf://org/name":                  {Repo: "org/name", Revision: "main"},
		"hf://org/name@v1":               {Repo: "org/name", Revision: "v1"},
		"hf://org/name@refs/pr/1":        {Repo: "org/name", Revision: "refs/pr/1"},
		"hf://org/name/q8/m-Q8_0.gguf@v": {Repo: "org/name", File: "q8/m-Q8_0.gguf", Revision: "v"},
	} {
		got, err := ParseRef(id)
		if err != nil || got != want {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", id, got, err, want)
		}
		if again, _ := ParseRef(got.String()); again != got {
			t.Errorf("%q does not round-trip: %+v", got.String(), again)
		}
	}
	for _, id := range []string{"hf://", "hf://org/name/config.json", "hf://org/name/../x.gguf", "hf://a b/c", "s3://b/k", "hf://org/name@"} {
		if _, err := ParseRef(id); err == nil {
			t.Errorf("ParseRef(%q) accepted", id)
		}
	}
}
