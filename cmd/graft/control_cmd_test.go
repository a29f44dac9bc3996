package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestControlProviderFlags: a control process on a provider it cannot run
// on exits 2 naming what is wrong, before it serves anything.
func TestControlProviderFlags(t *testing.T) {
	base := []string{"control", "--redis", "redis://127.0.0.1:1/0", "--api-listen", "127.0.0.1:0"}
	env := []string{"KUBECONFIG=", "GRAFT_NAMESPACE=", "GRAFT_IMAGE="}
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--provider", "nomad"}, `unknown provider "nomad"`},
		{[]string{"--provider", "kubernetes", "--namespace", "graft"}, "needs the graft image"},
		{[]string{"--provider", "kubernetes", "--namespace", "graft", "--image", "graft:1",
			"--kubeconfig", filepath.Join(t.TempDir(), "missing")}, "missing"},
	} {
		args := append(append([]string{}, base...), c.args...)
		r := graft(t, env, args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.says) {
			t.Errorf("graft %s: exit %d, stderr %q; want 2 saying %q", strings.Join(args, " "), r.code, r.stderr, c.says)
		}
	}
}

// TestXDSKubernetesFlags: graft xds told to route by pods it cannot watch
// exits 2 naming the flag, rather than serving endpoints it cannot check.
func TestXDSKubernetesFlags(t *testing.T) {
	dir := t.TempDir()
	args := []string{"xds", "--redis", "redis://127.0.0.1:1/0", "--listen", "127.0.0.1:0", "--metrics-listen", "",
		"--cert", filepath.Join(dir, "tls.crt"), "--key", filepath.Join(dir, "tls.key"),
		"--kubernetes-namespace", "graft", "--kubeconfig", filepath.Join(dir, "missing")}
	r := graft(t, []string{"KUBECONFIG="}, args...)
	if r.code != 2 || !strings.Contains(r.stderr, "--kubeconfig") {
		t.Errorf("graft %s: exit %d, stderr %q; want 2 naming --kubeconfig", strings.Join(args, " "), r.code, r.stderr)
	}
}
