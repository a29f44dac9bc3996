package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ai/graft/internal/testmodels"
)

// TestBadOptionsExitTwo: values the engine and sidecar libraries refuse as
// bad options exit 2, as flag errors do; a failure of the machine exits 1.
func TestBadOptionsExitTwo(t *testing.T) {
	model := testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf")
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"serve", "--model", model, "--device", "tpu", "--listen", freeAddr(t)}, 2, `device "tpu"`},
		{[]string{"engine", "--model", model, "--listen", "no-port"}, 2, "no-port"},
		{[]string{"sidecar", "--engine", "unix:///nowhere.sock", "--listen", "no-port"}, 2, "no-port"},
		{[]string{"serve", "--model", model, "--max-num-seqs", "many"}, 2, "--max-num-seqs"},
		{[]string{"engine", "--model", filepath.Join(t.TempDir(), "missing.gguf")}, 1, "missing.gguf"},
	} {
		r := graft(t, nil, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.says) {
			t.Errorf("graft %s: exit %d, stderr %q; want %d saying %q", strings.Join(c.args, " "), r.code, r.stderr, c.code, c.says)
		}
	}
}
