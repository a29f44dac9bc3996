// Package testmodels finds the shared test models (../shared/models beside the
// repository, or $GRAFT_TESTDATA) for tests, and skips a test clearly when they are
// absent so that a fresh clone without them still passes.
package testmodels

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the test-model root, or "" when it cannot be found.
func Dir() string {
	if d := os.Getenv("GRAFT_TESTDATA"); d != "" {
		if abs, err := filepath.Abs(d); err == nil {
			d = abs
		}
		if isDir(d) {
			return d
		}
		return ""
	}
	root := repoRoot()
	if root == "" {
		return ""
	}
	d := filepath.Join(root, "..", "shared", "models")
	if isDir(d) {
		return filepath.Clean(d)
	}
	return ""
}

// Path joins elems under the test-model root and skips t when that path is missing.
func Path(t testing.TB, elems ...string) string {
	t.Helper()
	d := Dir()
	if d == "" {
		t.Skip("test models not found: set GRAFT_TESTDATA or place them at ../shared/models beside the repository")
	}
	p := filepath.Join(append([]string{d}, elems...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("test model file %s not found under GRAFT_TESTDATA=%s", filepath.Join(elems...), d)
	}
	return p
}

// repoRoot walks up from the working directory to the directory holding go.mod.
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
