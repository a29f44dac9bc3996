// Package testgraft builds the graft binary once per test process, for tests
// whose code starts graft children (the local provider's replicas) outside
// package main.
package testgraft

import (
	"os"
	"os/exec"
	"path/filepath"
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
	return bin
}

// Cleanup removes the binary Binary built, if any.
func Cleanup() {
	if dir != "" {
		os.RemoveAll(dir)
	}
}
