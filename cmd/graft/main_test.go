package main

import (
	"github.com/graft-ai/graft/internal/testgraft"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestMain lets the test binary act as the graft binary in a child process, so CLI
// tests exercise the real main (exit codes, stdout/stderr) without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("GRAFT_TEST_RUN_MAIN") == "1" {
		os.Exit(run(os.Args[1:]))
	}
	code := m.Run()
	testgraft.Cleanup() // the gateway module, when a test built it
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// graft runs the binary with args in a child process.
func graft(t *testing.T, env []string, args ...string) result {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(append(os.Environ(), "GRAFT_TEST_RUN_MAIN=1", testgraft.TempEnv(t)), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

func TestHelp(t *testing.T) {
	r := graft(t, nil, "--help")
	if r.code != 0 {
		t.Fatalf("graft --help exited %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"Usage:", "version", "--log-format", "GRAFT_LOG_FORMAT"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestVersion(t *testing.T) {
	r := graft(t, nil, "version")
	if r.code != 0 {
		t.Fatalf("graft version exited %d: %s", r.code, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "graft ") || !strings.Contains(r.stdout, runtime.Version()) {
		t.Errorf("graft version = %q, want the version and %s", r.stdout, runtime.Version())
	}
}

func TestLogFormatFromEnvironment(t *testing.T) {
	r := graft(t, []string{"GRAFT_LOG_FORMAT=xml"}, "version")
	if r.code == 0 || !strings.Contains(r.stderr, "--log-format") {
		t.Fatalf("bad GRAFT_LOG_FORMAT accepted: code %d, stderr %q", r.code, r.stderr)
	}
	r = graft(t, []string{"GRAFT_LOG_FORMAT=xml"}, "--log-format", "json", "version")
	if r.code != 0 {
		t.Fatalf("explicit --log-format json should win over the environment: %s", r.stderr)
	}
}

func TestUnknownCommand(t *testing.T) {
	r := graft(t, nil, "frobnicate")
	if r.code == 0 || !strings.Contains(r.stderr, "unknown command") {
		t.Fatalf("unknown command: code %d, stderr %q", r.code, r.stderr)
	}
}
