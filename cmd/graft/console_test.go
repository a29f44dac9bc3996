package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/graft-ai/graft/internal/jaeger"
	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/xds"
)

// TestConsoleInChromium drives the web console of a real `graft up` (Redis,
// the control process, a stories260K replica, Envoy, Jaeger) in headless
// Chromium: a wrong key is refused with a message, the admin key logs in, the
// demo deployment shows Ready, the playground streams an answer equal to the
// API's for the same seed, that request's trace is drawn from Jaeger, an
// API error is shown, and a stop turns the status to Stopped without a
// reload. Screenshots go to $GRAFT_ARTIFACTS (else the test's temp dir).
func TestConsoleInChromium(t *testing.T) {
	testmodels.Path(t, "stories260K", "hf")
	if _, err := xds.EnvoyBinary("."); err != nil {
		t.Skipf("no Envoy here (%v); make test installs it", err)
	}
	browser := chromiumPath(t)
	stateDir := t.TempDir()
	up, info, client := startUp(t, stateDir, freeAddr(t))
	for _, want := range []string{"Console: " + info.ConsoleURL} {
		if !strings.Contains(up.logs.String(), want) {
			t.Errorf("graft up did not print %q:\n%s", want, up.logs.String())
		}
	}
	if info.ConsoleURL == "" {
		t.Fatalf("up.json has no console_url: %+v", info)
	}
	_, noJaeger := jaeger.Binary()
	tracing := noJaeger == nil
	if tracing && !strings.Contains(up.logs.String(), info.JaegerURL+"/api/traces") {
		t.Errorf("graft up did not print Jaeger's API URL %s", info.JaegerURL)
	}

	ctx := browserContext(t, browser)
	artifacts := artifactDir(t)
	run(t, ctx, "open the console with a wrong key",
		chromedp.Navigate(info.ConsoleURL),
		chromedp.WaitVisible(`#login-key`, chromedp.ByQuery),
		chromedp.SendKeys(`#login-key`, "graft-not-a-key", chromedp.ByQuery),
		chromedp.Submit(`#login-form`, chromedp.ByQuery),
		chromedp.WaitVisible(`#login-error`, chromedp.ByQuery))
	var loginErr string
	run(t, ctx, "read the login error", chromedp.Text(`#login-error`, &loginErr, chromedp.ByQuery))
	if !strings.Contains(loginErr, "incorrect admin key") {
		t.Errorf("a wrong key shows %q", loginErr)
	}
	run(t, ctx, "log in and see the demo deployment Ready",
		chromedp.SetValue(`#login-key`, info.APIKey, chromedp.ByQuery),
		chromedp.Submit(`#login-form`, chromedp.ByQuery),
		chromedp.WaitVisible(`tr[data-deployment="stories"] [data-status="Ready"]`, chromedp.ByQuery))

	const seed, prompt = 11, "Tell me a story about a cat."
	answer, traceID := playground(t, ctx, info, "stories/all-r8", prompt, seed)
	want := apiAnswer(t, client, info, "stories/all-r8", prompt, seed)
	if answer != want || answer == "" {
		t.Errorf("the playground streamed %q; the API answers %q for the same seed", answer, want)
	}

	if tracing {
		checkConsoleTrace(t, ctx, info, traceID, artifacts)
	}
	checkConsoleDeployment(t, ctx, info, artifacts)
	checkConsoleShowsAPIErrors(t, ctx, info)

	var stillHere bool
	run(t, ctx, "stop the deployment and watch it change without a reload",
		chromedp.Navigate(info.ConsoleURL),
		chromedp.WaitVisible(`tr[data-deployment="stories"] [data-status="Ready"]`, chromedp.ByQuery),
		chromedp.Evaluate(`window.notReloaded = true`, nil),
		chromedp.Click(`tr[data-deployment="stories"] button[data-url$="/stop"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`tr[data-deployment="stories"] [data-status="Stopped"]`, chromedp.ByQuery),
		chromedp.Evaluate(`window.notReloaded === true`, &stillHere))
	if !stillHere {
		t.Error("the page reloaded to show the stop")
	}
	screenshot(t, ctx, filepath.Join(artifacts, "console-stopped.png"))
}

// playground streams a chat answer in the console and returns its text and
// the trace id the console gave the request.
func playground(t *testing.T, ctx context.Context, info upInfo, model, prompt string, seed int) (string, string) {
	t.Helper()
	var answer, state, trace string
	run(t, ctx, "stream a playground answer",
		chromedp.Navigate(strings.TrimSuffix(info.ConsoleURL, "/")+"/playground?model="+model),
		chromedp.WaitVisible(fmt.Sprintf(`#play-model option[value=%q]`, model), chromedp.ByQuery),
		chromedp.SetValue(`#play-model`, model, chromedp.ByQuery),
		chromedp.SetValue(`#play-prompt`, prompt, chromedp.ByQuery),
		chromedp.SetValue(`#play-seed`, strconv.Itoa(seed), chromedp.ByQuery),
		chromedp.SetValue(`#play-max`, "40", chromedp.ByQuery),
		chromedp.SetValue(`#play-temp`, "1", chromedp.ByQuery),
		chromedp.Click(`#play-send`, chromedp.ByQuery),
		chromedp.WaitVisible(`#play-state[data-state="done"], #play-state[data-state="error"]`, chromedp.ByQuery),
		chromedp.Text(`#play-state`, &state, chromedp.ByQuery),
		chromedp.TextContent(`#answer`, &answer, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#play-trace a').textContent`, &trace))
	if !strings.HasPrefix(state, "Done") {
		t.Fatalf("the playground ended with %q", state)
	}
	t.Logf("playground (%s): %q", state, answer)
	return answer, trace
}

// apiAnswer asks the front door the same question without streaming.
func apiAnswer(t *testing.T, client *http.Client, info upInfo, model, prompt string, seed int) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"model": model, "messages": []map[string]string{{"role": "user", "content": prompt}},
		"max_tokens": 40, "temperature": 1, "seed": seed})
	code, out := call(t, client, "POST", info.URL+"/chat/completions", info.APIKey, string(body))
	var r struct {
		Choices []struct{ Message struct{ Content string } }
	}
	if code != 200 || json.Unmarshal([]byte(out), &r) != nil || len(r.Choices) != 1 {
		t.Fatalf("chat through the API: %d %s", code, out)
	}
	return r.Choices[0].Message.Content
}

// checkConsoleTrace: the playground's request is listed among the recent
// traces and drawn as a waterfall with every hop's spans.
func checkConsoleTrace(t *testing.T, ctx context.Context, info upInfo, id, artifacts string) {
	t.Helper()
	if id == "" {
		t.Fatal("the playground named no trace")
	}
	base := strings.TrimSuffix(info.ConsoleURL, "/")
	run(t, ctx, "see the request among the recent traces",
		chromedp.Navigate(base+"/traces"),
		chromedp.WaitVisible(fmt.Sprintf(`tr[data-trace=%q]`, id), chromedp.ByQuery))
	var rows []string
	run(t, ctx, "draw the request's trace",
		chromedp.Navigate(base+"/traces/"+id),
		chromedp.WaitVisible(`.span[data-service="graft-engine"][data-op="engine.decode"]`, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll('.span')].map(s => s.dataset.service + ' ' + s.dataset.op)`, &rows))
	for _, want := range []string{"envoy ", "graft-gateway gateway.decide", "graft-sidecar POST /v1/chat/completions", "graft-engine engine.prefill"} {
		if !containsPrefix(rows, want) {
			t.Errorf("the waterfall lacks %q: %q", want, rows)
		}
	}
	t.Logf("waterfall of %s: %q", id, rows)
	screenshot(t, ctx, filepath.Join(artifacts, "console-trace.png"))
}

// checkConsoleDeployment: the deployment's page shows its replica holding
// the adapter just used and its live charts counting the tokens generated.
func checkConsoleDeployment(t *testing.T, ctx context.Context, info upInfo, artifacts string) {
	t.Helper()
	var peak string
	run(t, ctx, "see the replica hold the adapter and the charts move",
		chromedp.Navigate(strings.TrimSuffix(info.ConsoleURL, "/")+"/deployments/stories"),
		chromedp.WaitVisible(`tr[data-adapter="all-r8"] span[title="loaded"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-chart="tokens/s"]:not([data-peak="0"])`, chromedp.ByQuery),
		chromedp.AttributeValue(`[data-chart="tokens/s"]`, "data-peak", &peak, nil, chromedp.ByQuery))
	t.Logf("tokens/s peak on the chart: %s", peak)
	screenshot(t, ctx, filepath.Join(artifacts, "console.png"))
}

// checkConsoleShowsAPIErrors: a create the API refuses shows the API's
// message.
func checkConsoleShowsAPIErrors(t *testing.T, ctx context.Context, info upInfo) {
	t.Helper()
	var msg string
	run(t, ctx, "create a deployment that exists",
		chromedp.Navigate(info.ConsoleURL),
		chromedp.WaitVisible(`tr[data-deployment="stories"]`, chromedp.ByQuery),
		chromedp.Click(`#create summary`, chromedp.ByQuery),
		chromedp.SendKeys(`#create-form [name=name]`, "stories", chromedp.ByQuery),
		chromedp.SendKeys(`#create-form [name=base_model]`, "/nowhere/model.gguf", chromedp.ByQuery),
		chromedp.Submit(`#create-form`, chromedp.ByQuery),
		chromedp.WaitVisible(`#flash`, chromedp.ByQuery),
		chromedp.Text(`#flash`, &msg, chromedp.ByQuery))
	if !strings.Contains(msg, "(4") {
		t.Errorf("the refused create shows %q, want the API's error and status", msg)
	}
	t.Logf("refused create: %s", msg)
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// chromiumPath is Debian's chromium ($GRAFT_CHROMIUM to use another).
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("GRAFT_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(p); err != nil {
		t.Skipf("no Chromium at %s (make chromium installs Debian's): %v", p, err)
	}
	return p
}

func browserContext(t *testing.T, browser string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.WindowSize(1280, 1000),
		chromedp.UserDataDir(t.TempDir())}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// run runs actions with a deadline, failing the test with what was tried.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Run(rctx, actions...); err != nil {
		var html string
		_ = chromedp.Run(ctx, chromedp.OuterHTML("main", &html, chromedp.ByQuery))
		t.Fatalf("%s: %v\npage:\n%.4000s", what, err, html)
	}
}

func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	var png []byte
	run(t, ctx, "screenshot", chromedp.FullScreenshot(&png, 100))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

// artifactDir is $GRAFT_ARTIFACTS when set, else the test's temp dir.
func artifactDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("GRAFT_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}
