// Package testgraft builds the graft binary and the gateway's Envoy module
// once per test process, for tests whose code starts graft children (the
// local provider's replicas) or an Envoy that loads the module, outside
// package main.
package testgraft

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/graft-ai/graft/internal/tmpdir"
)

// build is one artifact built at most once per test process.
type build struct {
	once   sync.Once
	path   string
	output []byte
	err    error
}

var (
	dirOnce sync.Once
	dir     string
	dirErr  error
	graft   build
	module  build
)

// Binary returns the path of a graft binary built from this checkout. The
// build runs once per test process (the Go build cache makes it quick after
// the first); call Cleanup from TestMain to remove it.
func Binary(t testing.TB) string {
	t.Helper()
	return graft.get(t, "graft", "github.com/graft-ai/graft/cmd/graft")
}

// GatewayModule returns the path of the gateway built as an Envoy dynamic
// module (cmd/graft-envoy-gateway), built once per test process like
// Binary. A module needs cgo: without it the test is skipped.
func GatewayModule(t testing.TB) string {
	t.Helper()
	if out, err := exec.Command("go", "env", "CGO_ENABLED").Output(); err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Skip("cgo is off here: the gateway's Envoy module cannot be built")
	}
	return module.get(t, "libgraft_gateway.so", "-buildmode=c-shared", "github.com/graft-ai/graft/cmd/graft-envoy-gateway")
}

func (b *build) get(t testing.TB, name string, args ...string) string {
	t.Helper()
	b.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			b.err = err
			return
		}
		dirOnce.Do(func() { dir, dirErr = os.MkdirTemp("", "graft-testbin-") })
		if b.err = dirErr; b.err != nil {
			return
		}
		b.path = filepath.Join(dir, name)
		cmd := exec.Command(goBin, append([]string{"build", "-o", b.path}, args...)...)
		b.output, b.err = cmd.CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("build %s: %v\n%s", name, b.err, b.output)
	}
	statSources()
	return b.path
}

// statSources stats every Go file of the module. go test keys its result
// cache on the files a test stats, and nothing else tells it that a test
// running this binary depends on the sources it was built from.
func statSources() {
	dir, err := os.Getwd()
	if err != nil {
		return
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if parent := filepath.Dir(dir); parent != dir {
			dir = parent
		} else {
			return
		}
	}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil
		case d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != dir:
			return filepath.SkipDir
		case !d.IsDir() && strings.HasSuffix(path, ".go"):
			_, _ = os.Stat(path)
		}
		return nil
	})
}

// Cleanup removes what Binary and GatewayModule built, if anything.
func Cleanup() {
	if dir != "" {
		os.RemoveAll(dir)
	}
}

// TempDir is a fresh folder directly under the system's temporary folder,
// removed when the test ends, for a graft child's temporary files: a child
// the test kills cannot remove the socket folder its engine made there.
// Not t.TempDir(): a unix socket's path, two folders further down, must
// stay under 108 bytes. It is a tmpdir folder, so one left by a test
// process that was itself killed (a timeout) goes at the next test's.
func TempDir(t testing.TB) string {
	t.Helper()
	d, err := tmpdir.Make("", "graft-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Remove() })
	return d.Path
}

// TempEnv is the TMPDIR entry of a graft child's environment: a TempDir.
func TempEnv(t testing.TB) string {
	t.Helper()
	return "TMPDIR=" + TempDir(t)
}
