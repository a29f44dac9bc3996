package main

import (
	"strings"
	"testing"
)

func TestBenchListsEngine(t *testing.T) {
	r := graft(t, nil, "bench", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "engine") {
		t.Fatalf("graft bench --help: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestBenchEngineNeedsLlamaCppDir(t *testing.T) {
	r := graft(t, nil, "bench", "engine", "--vs-llamacpp", "--llamacpp-dir", t.TempDir())
	if r.code != 2 || !strings.Contains(r.stderr, "bench.mjs") {
		t.Fatalf("missing bench.mjs: code %d, stderr %q", r.code, r.stderr)
	}
}

func TestBenchEngineSharedPrefixNeedsRequests(t *testing.T) {
	r := graft(t, nil, "bench", "engine", "--shared-prefix", "0")
	if r.code != 2 || !strings.Contains(r.stderr, "--shared-prefix") {
		t.Fatalf("--shared-prefix 0: code %d, stderr %q", r.code, r.stderr)
	}
}
