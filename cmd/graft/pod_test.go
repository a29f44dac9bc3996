package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graft-ai/graft/internal/testmodels"
)

// pod is a real `graft serve` on stories260K, started for one test and
// stopped by its pid.
type pod struct {
	*graftProcess
	addr, url string
}

// startPod serves the stories260K GGUF on a free port with one compute
// thread, the extra flags and extra environment.
func startPod(t *testing.T, env []string, flags ...string) *pod {
	t.Helper()
	model := testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf")
	addr := freeAddr(t)
	args := append([]string{"serve", "--model", model, "--listen", addr, "--threads", "1"}, flags...)
	return &pod{graftProcess: startGraftEnv(t, addr, env, args...), addr: addr, url: "http://" + addr}
}

func (p *pod) pid() int { return p.cmd.Process.Pid }

// reply is one HTTP answer of the pod.
type reply struct {
	status int
	header http.Header
	body   string
}

// apiError is the OpenAI error body.
type apiError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// client bounds every call, so a pod that hangs fails the test rather than
// stalling it.
// Its idle connections close after half a second: the slow-client test runs
// pods that close idle keep-alive connections after one, and a POST sent on
// a connection the server has just closed fails with EOF (it is not retried).
var client = &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{IdleConnTimeout: 500 * time.Millisecond}}

func (p *pod) do(t *testing.T, method, path, body string) reply {
	t.Helper()
	return p.doCtx(t, context.Background(), method, path, strings.NewReader(body))
}

func (p *pod) doCtx(t *testing.T, ctx context.Context, method, path string, body io.Reader) reply {
	t.Helper()
	r, err := p.try(ctx, method, path, body)
	if err != nil {
		t.Fatalf("%v\ngraft serve logs:\n%s", err, lastLines(p.logs.String(), 20))
	}
	return r
}

// try is one call that may fail, for goroutines other than the test's.
func (p *pod) try(ctx context.Context, method, path string, body io.Reader) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, method, p.url+path, body)
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return reply{resp.StatusCode, resp.Header, string(out)}, nil
}

// burst sends n copies of a POST at once and returns the answers.
func (p *pod) burst(t *testing.T, n int, path, body string) []reply {
	t.Helper()
	out := make([]reply, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i], errs[i] = p.try(context.Background(), http.MethodPost, path, strings.NewReader(body)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return out
}

func (p *pod) post(t *testing.T, path, body string) reply {
	t.Helper()
	return p.do(t, http.MethodPost, path, body)
}

// wantError requires an OpenAI error JSON with status and, when param is not
// empty, that param; it returns the error.
func wantError(t *testing.T, what string, r reply, status int, param string) apiError {
	t.Helper()
	var e apiError
	if r.status != status || json.Unmarshal([]byte(r.body), &e) != nil || e.Error.Message == "" || e.Error.Type == "" {
		t.Fatalf("%s: %d %s, want %d with an OpenAI error", what, r.status, r.body, status)
	}
	if r.header.Get("Content-Type") != "application/json" {
		t.Errorf("%s: Content-Type %q", what, r.header.Get("Content-Type"))
	}
	if param != "" && (e.Error.Param == nil || *e.Error.Param != param) {
		t.Errorf("%s: param %v, want %q: %s", what, e.Error.Param, param, r.body)
	}
	t.Logf("%s: %d %s", what, r.status, e.Error.Message)
	return e
}

// checkGolden asks the pod for the reference's greedy continuations of
// "Once upon a time", on the base model and on each given adapter, and
// requires golden.json's text exactly.
func (p *pod) checkGolden(t *testing.T, adapters ...string) {
	t.Helper()
	g := readStoriesGolden(t)
	want := map[string]bool{"": true}
	for _, a := range adapters {
		want[a] = true
	}
	checked := 0
	for _, run := range g.Reference.Runs {
		adapter := ""
		if run.Adapter != nil {
			adapter = *run.Adapter
		}
		if run.Prompt == "" || !want[adapter] {
			continue
		}
		model := "stories260K"
		if adapter != "" {
			model = adapter
		}
		r := p.post(t, "/v1/completions", fmt.Sprintf(`{"model": %q, "prompt": %q, "max_tokens": %d, "temperature": 0}`, model, run.Prompt, len(run.Greedy)))
		var c struct {
			Choices []struct{ Text string }
			Usage   struct {
				CompletionTokens int `json:"completion_tokens"`
			}
		}
		if r.status != 200 || json.Unmarshal([]byte(r.body), &c) != nil || len(c.Choices) != 1 ||
			c.Choices[0].Text != run.Text || c.Usage.CompletionTokens != len(run.Greedy) {
			t.Fatalf("golden %s %q: %d %s\nwant %q", model, run.Prompt, r.status, r.body, run.Text)
		}
		checked++
	}
	if checked != len(want) {
		t.Fatalf("golden.json has runs for %d of %v", checked, adapters)
	}
}

// gauge reads one vllm gauge of the pod's /metrics.
func (p *pod) gauge(t *testing.T, name string) float64 {
	t.Helper()
	r := p.do(t, http.MethodGet, "/metrics", "")
	sc := bufio.NewScanner(strings.NewReader(r.body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatalf("metrics line %q: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// idle waits until the pod reports nothing running or waiting.
func (p *pod) idle(t *testing.T) {
	t.Helper()
	waitFor(t, "the pod to be idle", func() bool {
		return p.gauge(t, "vllm:num_requests_running") == 0 && p.gauge(t, "vllm:num_requests_waiting") == 0
	})
}

// peakRSS is the process's high-water resident set (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc to read the pod's memory from: %v", err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("/proc status has no VmHWM")
	return 0
}

// cpuTicks is the user plus system CPU time the process has used, in clock
// ticks (USER_HZ, 100 a second on Linux).
func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Skipf("no /proc to read the pod's CPU time from: %v", err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc stat %q", data)
	}
	return utime + stime
}

// noServerPath fails when msg shows one of the server's directories, an
// absolute path, an address or a Go type.
func noServerPath(t *testing.T, what, msg string, dirs ...string) {
	t.Helper()
	for _, bad := range append(dirs, "/tmp/", "/home/", "/root/", "/work/", "/etc/", "127.0.0.1", "dial tcp", "lookup ", "*errors.", "path:") {
		if bad != "" && strings.Contains(msg, bad) {
			t.Errorf("%s: message %q shows %q", what, msg, bad)
		}
	}
}
