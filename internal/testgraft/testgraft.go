// Package testgraft builds the graft binary once per test process, for tests
// whose code starts graft children (the local provider's replicas) outside
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
)

var (
	once   sync.Once
	dir    string
	bin    string
	output []byte
	err    error
)

// Binary returns the path of a graft binary built from this checkout. The
// build runs once per test process (the Go build cache makes it quick after
// the first); call Cleanup from TestMain to remove it.
func Binary(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		var goBin string
		if goBin, err = exec.LookPath("go"); err != nil {
			return
		}
		dir, err = os.MkdirTemp("", "graft-testbin-")
		if err != nil {
			return
		}
		bin = filepath.Join(dir, "graft")
		cmd := exec.Command(goBin, "build", "-o", bin, "github.com/graft-ai/graft/cmd/graft")
		output, err = cmd.CombinedOutput()
	})
	if err != nil {
		t.Fatalf("build graft: %v\n%s", err, output)
	}
	statSources()
	return bin
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

// Cleanup removes the binary Binary built, if any.
func Cleanup() {
	if dir != "" {
		os.RemoveAll(dir)
	}
}
