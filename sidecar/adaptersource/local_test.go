package adaptersource

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/graft-ai/graft/internal/testmodels"
)

func localCache(t *testing.T, root string) *Cache {
	t.Helper()
	l, err := NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	c, err := OpenCache(t.TempDir(), Sources{Local: l})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLocalAdaptersAreUsedInPlace(t *testing.T) {
	root := testmodels.Path(t, "stories260K", "adapters")
	c := localCache(t, root)
	for _, name := range []string{"qv-r4", "all-r8", "mlp-r16", "o-r2-rslora"} {
		dir, err := c.Get(context.Background(), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, _ := filepath.EvalSymlinks(filepath.Join(root, name))
		if dir != want {
			t.Fatalf("%s: Get = %s, want the adapter in place at %s", name, dir, want)
		}
	}
	if _, err := c.Get(context.Background(), "no-such-adapter"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing local adapter: %v, want ErrNotFound", err)
	}
}

func TestLocalRejectsEscapes(t *testing.T) {
	adapter := testmodels.Path(t, "stories260K", "adapters", "qv-r4")
	root, outside := t.TempDir(), t.TempDir()
	copyAdapter(t, adapter, filepath.Join(outside, "secret"))
	copyAdapter(t, adapter, filepath.Join(root, "ok"))
	mustSymlink(t, filepath.Join(outside, "secret"), filepath.Join(root, "dir-link"))
	mustSymlink(t, filepath.Join(root, "ok"), filepath.Join(root, "inside-link"))
	os.MkdirAll(filepath.Join(root, "file-link"), 0o755)
	copyFile(t, filepath.Join(adapter, ConfigFile), filepath.Join(root, "file-link", ConfigFile))
	mustSymlink(t, filepath.Join(outside, "secret", WeightsFile), filepath.Join(root, "file-link", WeightsFile))
	c := localCache(t, root)

	for _, id := range []string{"../secret", "/etc", "ok/../../secret", "ok/..", ".", "a//b", `..\secret`, "ok/", "file:///etc"} {
		if _, err := c.Get(context.Background(), id); !errors.Is(err, ErrBadRef) {
			t.Errorf("%q: %v, want ErrBadRef", id, err)
		}
	}
	for _, id := range []string{"dir-link", "file-link"} {
		if _, err := c.Get(context.Background(), id); !errors.Is(err, ErrBadRef) {
			t.Errorf("%q (symlink out of the root): %v, want ErrBadRef", id, err)
		}
	}
	if _, err := c.Get(context.Background(), "inside-link"); err != nil {
		t.Errorf("symlink within the root: %v", err)
	}
}

func TestNoLocalRoot(t *testing.T) {
	c, err := OpenCache(t.TempDir(), Sources{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), "qv-r4"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("%v, want ErrNotFound", err)
	}
}

func copyAdapter(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range AdapterFiles {
		copyFile(t, filepath.Join(from, name), filepath.Join(to, name))
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
