package adaptersource

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/graft-ai/graft/internal/testmodels"
)

// Fine-tuned adapters ("ft/TENANT/NAME") come from the tuned root, used in
// place and appearing there while the catalog runs; other names still come
// from the local root, and nothing escapes either.
func TestTunedAdaptersComeFromTheirRoot(t *testing.T) {
	adapter := testmodels.Path(t, "stories260K", "adapters", "qv-r4")
	root := testmodels.Path(t, "stories260K", "adapters")
	tuned := t.TempDir()
	cat, err := OpenCatalog(context.Background(), t.TempDir(), root)
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.AddTuned(tuned); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Resolve(context.Background(), "ft/acme/tales"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("before it is published: %v, want ErrNotFound", err)
	}
	copyAdapter(t, adapter, filepath.Join(tuned, "acme", "tales"))
	dir, err := cat.Resolve(context.Background(), "ft/acme/tales")
	want, _ := filepath.EvalSymlinks(filepath.Join(tuned, "acme", "tales"))
	if err != nil || dir != want {
		t.Fatalf("published: %q, %v; want %s in place", dir, err, want)
	}
	if _, err := cat.Resolve(context.Background(), "all-r8"); err != nil {
		t.Fatalf("a local adapter beside the tuned root: %v", err)
	}
	for _, id := range []string{"ft/../acme/tales", "ft/acme/../../x", "ft/"} {
		if _, err := cat.Resolve(context.Background(), id); !errors.Is(err, ErrBadRef) {
			t.Errorf("%q: %v, want ErrBadRef", id, err)
		}
	}
	if err := cat.AddTuned(filepath.Join(tuned, "missing")); err == nil {
		t.Error("AddTuned accepted a folder that does not exist")
	}
}
