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
	browse(t, ctx, "open the console with a wrong key",
		chromedp.Navigate(info.ConsoleURL),
		chromedp.WaitVisible(chromedp.CSS(`#login-key`)),
		chromedp.SendKeys(chromedp.CSS(`#login-key`), "graft-not-a-key"),
		chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#login-error`)))
	loginErr := value(t, ctx, "read the login error", chromedp.Text(chromedp.CSS(`#login-error`)))
	if !strings.Contains(loginErr, "incorrect admin key") {
		t.Errorf("a wrong key shows %q", loginErr)
	}
	browse(t, ctx, "log in and see the demo deployment Ready",
		chromedp.SetValue(chromedp.CSS(`#login-key`), info.APIKey),
		chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-deployment="stories"] [data-status="Ready"]`)))

	const seed, prompt = 11, "Tell me a story about a cat."
	answer, traceID := playground(t, ctx, info, "stories/all-r8", prompt, seed)
	screenshot(t, ctx, filepath.Join(artifacts, "console-playground.png"))
	want := apiAnswer(t, client, info, "stories/all-r8", prompt, seed)
	if answer != want || answer == "" {
		t.Errorf("the playground streamed %q; the API answers %q for the same seed", answer, want)
	}

	if tracing {
		checkConsoleTrace(t, ctx, info, traceID, artifacts)
	}
	checkConsoleDeployment(t, ctx, info, artifacts)
	checkConsoleShowsAPIErrors(t, ctx, info)

	browse(t, ctx, "stop the deployment and watch it change without a reload",
		chromedp.Navigate(info.ConsoleURL),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-deployment="stories"] [data-status="Ready"]`)),
		chromedp.Evaluate[chromedp.Void](`window.notReloaded = true; undefined`),
		chromedp.Click(chromedp.CSS(`tr[data-deployment="stories"] button[data-url$="/stop"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-deployment="stories"] [data-status="Stopped"]`)))
	if !value(t, ctx, "check for a reload", chromedp.Evaluate[bool](`window.notReloaded === true`)) {
		t.Error("the page reloaded to show the stop")
	}
	screenshot(t, ctx, filepath.Join(artifacts, "console-stopped.png"))
}

// playground streams a chat answer in the console and returns its text and
// the trace id the console gave the request.
func playground(t *testing.T, ctx context.Context, info upInfo, model, prompt string, seed int) (string, string) {
	t.Helper()
	browse(t, ctx, "stream a playground answer",
		chromedp.Navigate(strings.TrimSuffix(info.ConsoleURL, "/")+"/playground?model="+model),
		chromedp.WaitReady(chromedp.CSS(fmt.Sprintf(`#play-model option[value=%q]`, model))),
		chromedp.SetValue(chromedp.CSS(`#play-model`), model),
		chromedp.SetValue(chromedp.CSS(`#play-prompt`), prompt),
		chromedp.SetValue(chromedp.CSS(`#play-seed`), strconv.Itoa(seed)),
		chromedp.SetValue(chromedp.CSS(`#play-max`), "40"),
		chromedp.SetValue(chromedp.CSS(`#play-temp`), "1"),
		chromedp.Click(chromedp.CSS(`#play-send`)),
		chromedp.WaitVisible(chromedp.CSS(`#play-state[data-state="done"], #play-state[data-state="error"]`)))
	state := value(t, ctx, "read the playground's state", chromedp.Text(chromedp.CSS(`#play-state`)))
	answer := value(t, ctx, "read the answer", chromedp.TextContent(chromedp.CSS(`#answer`)))
	trace := value(t, ctx, "read the trace id", chromedp.Evaluate[string](`document.querySelector('#play-trace a').textContent`))
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
	browse(t, ctx, "see the request among the recent traces",
		chromedp.Navigate(base+"/traces"),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`tr[data-trace=%q]`, id))))
	// Each service exports on its own schedule: the page refreshes until
	// every hop's span is drawn.
	steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/traces/" + id)}
	for _, span := range [][2]string{{"envoy", "ingress"}, {"graft-gateway", "gateway.decide"},
		{"graft-sidecar", "POST /v1/chat/completions"}, {"graft-engine", "engine.prefill"}, {"graft-engine", "engine.decode"}} {
		steps = append(steps, chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`.span[data-service=%q][data-op=%q]`, span[0], span[1]))))
	}
	browse(t, ctx, "draw the request's trace", steps...)
	rows := value(t, ctx, "read the waterfall",
		chromedp.Evaluate[[]string](`[...document.querySelectorAll('.span')].map(s => s.dataset.service + ' ' + s.dataset.op)`))
	t.Logf("waterfall of %s: %q", id, rows)
	screenshot(t, ctx, filepath.Join(artifacts, "console-trace.png"))
}

// checkConsoleDeployment: the deployment's page shows its replica holding
// the adapter just used and its live charts counting the tokens generated.
func checkConsoleDeployment(t *testing.T, ctx context.Context, info upInfo, artifacts string) {
	t.Helper()
	browse(t, ctx, "see the replica hold the adapter and the charts move",
		chromedp.Navigate(strings.TrimSuffix(info.ConsoleURL, "/")+"/deployments/stories"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-adapter="all-r8"] span[title="loaded"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-chart="tokens/s"]:not([data-peak="0"])`)))
	peak := value(t, ctx, "read the chart", chromedp.AttributeValue(chromedp.CSS(`[data-chart="tokens/s"]`), "data-peak"))
	t.Logf("tokens/s peak on the chart: %s", peak.Value)
	screenshot(t, ctx, filepath.Join(artifacts, "console.png"))
}

// checkConsoleShowsAPIErrors: a create the API refuses shows the API's
// message.
func checkConsoleShowsAPIErrors(t *testing.T, ctx context.Context, info upInfo) {
	t.Helper()
	browse(t, ctx, "create a deployment that exists",
		chromedp.Navigate(info.ConsoleURL),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-deployment="stories"]`)),
		chromedp.Click(chromedp.CSS(`#create summary`)),
		chromedp.SendKeys(chromedp.CSS(`#create-form [name=name]`), "stories"),
		chromedp.SendKeys(chromedp.CSS(`#create-form [name=base_model]`), "/nowhere/model.gguf"),
		chromedp.Click(chromedp.CSS(`#create-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#flash`)))
	msg := value(t, ctx, "read the error", chromedp.Text(chromedp.CSS(`#flash`)))
	if !strings.Contains(msg, "(4") {
		t.Errorf("the refused create shows %q, want the API's error and status", msg)
	}
	t.Logf("refused create: %s", msg)
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
	// The first run starts the browser and binds it to its context: that
	// must be this one, not a step's deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", browser, err)
	}
	return ctx
}

// browse runs steps with a deadline, failing the test with what was tried
// and the page as it was.
func browse(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	value(t, ctx, what, chromedp.Steps(steps...))
}

func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	v, err := chromedp.Run(rctx, a)
	if err != nil {
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		html, _ := chromedp.Run(hctx, chromedp.OuterHTML(chromedp.CSS("main")))
		t.Fatalf("%s: %v\npage:\n%.4000s", what, err, html)
	}
	return v
}

func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	png := value(t, ctx, "screenshot", chromedp.FullScreenshot(100))
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
