package main

// Each test here replays one attack of an adversarial client on a real
// `graft serve` process, checks the answer the pod gives now, and then
// requires the pod to still produce golden.json's greedy text.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/engine/chattemplate"
	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/internal/testserver"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
	"github.com/graft-ai/graft/sidecar"
	"github.com/graft-ai/graft/sidecar/openai"
	"github.com/graft-ai/graft/sidecar/replica"
)

// Bounds the README's "## Limits" states.
var (
	// All chat template renders together: 4 at once, each allocating at
	// most 2 × 16 × the output limit.
	templateMemoryBound = int64(4 * 2 * 16 * chattemplate.DefaultLimits.MaxOutputBytes)
	// One request's body and its copies while it is decoded and handed to
	// the engine: ten times the body limit.
	requestMemoryBound = int64(10 * openai.DefaultMaxBodyBytes)
)

func chatBody(template string) string {
	b, _ := json.Marshal(map[string]any{
		"model": "stories260K", "max_tokens": 4,
		"messages":      []map[string]string{{"role": "user", "content": "hi"}},
		"chat_template": template,
	})
	return string(b)
}

// The two templates that took the pod down: the first ended it out of
// memory, the second took it to 1.7 GB.
var oomTemplates = []string{`{{ "x" * 1000000000000 }}`, `{{ "x" * 400000000 }}`}

// A request's chat_template is refused unless the operator allows them;
// allowed, the templates that ran the pod out of memory fail on the output
// limit, and the pod's peak memory stays within the README's bound.
func TestHardening1RequestTemplateMemory(t *testing.T) {
	t.Run("refused by default", func(t *testing.T) {
		p := startPod(t, nil)
		for _, tmpl := range append(oomTemplates, "{{ messages[0].content }}") {
			e := wantError(t, tmpl, p.post(t, "/v1/chat/completions", chatBody(tmpl)), 400, "chat_template")
			if !strings.Contains(e.Error.Message, "chat_template") || !strings.Contains(e.Error.Message, "--allow-request-chat-template") {
				t.Errorf("message %q should name chat_template and the flag that allows it", e.Error.Message)
			}
		}
		p.checkGolden(t)
		p.stop(t)
	})
	t.Run("allowed, bounded", func(t *testing.T) {
		p := startPod(t, nil, "--allow-request-chat-template")
		p.checkGolden(t)
		before := peakRSS(t, p.pid())
		// Each template eight times at once: more than the renders that may
		// run together, so the bound on all of them is what is tested.
		limit := fmt.Sprintf("output limit of %d bytes", chattemplate.DefaultLimits.MaxOutputBytes)
		for _, tmpl := range oomTemplates {
			for _, r := range p.burst(t, 8, "/v1/chat/completions", chatBody(tmpl)) {
				e := wantError(t, tmpl, r, 400, "chat_template")
				if !strings.HasPrefix(e.Error.Message, "chat_template: template ") || !strings.Contains(e.Error.Message, limit) {
					t.Errorf("message %q, want chat_template: and the %s", e.Error.Message, limit)
				}
			}
		}
		after := peakRSS(t, p.pid())
		t.Logf("peak RSS %d MiB before the attack, %d MiB after (bound: %d MiB more)", before>>20, after>>20, templateMemoryBound>>20)
		if after-before > templateMemoryBound {
			t.Errorf("peak RSS grew by %d MiB, over the README's %d MiB for template renders", (after-before)>>20, templateMemoryBound>>20)
		}
		// A harmless request template still renders.
		if r := p.post(t, "/v1/chat/completions", chatBody("{{ messages[0].content }}")); r.status != 200 {
			t.Errorf("plain request template: %d %s", r.status, r.body)
		}
		p.checkGolden(t)
		p.stop(t)
	})
}

// Templates that loop for minutes fail on a limit within the request,
// and a client that goes away stops its render: the CPU the pod spends on
// cancelled renders is a fraction of what they would cost run out.
func TestHardening2TemplateCPU(t *testing.T) {
	p := startPod(t, nil, "--allow-request-chat-template")
	for _, c := range []struct{ tmpl, limit string }{
		{`{% for a in "x"*30000 %}{% for b in "x"*30000 %}{% endfor %}{% endfor %}`, "memory limit"},
		{`{% set l = range(3000)|list %}{% for a in l %}{% for b in l %}{% endfor %}{% endfor %}`, "step limit of 1000000 steps"},
	} {
		e := wantError(t, c.tmpl, p.post(t, "/v1/chat/completions", chatBody(c.tmpl)), 400, "chat_template")
		if !strings.HasPrefix(e.Error.Message, "chat_template: template ") || !strings.Contains(e.Error.Message, c.limit) {
			t.Errorf("message %q, want chat_template: and the %s", e.Error.Message, c.limit)
		}
		p.checkGolden(t)
	}

	// One render of the step-bound loop run to its limit, as a unit of CPU.
	loop := chatBody(`{% set l = range(3000)|list %}{% for a in l %}{% for b in l %}{% endfor %}{% endfor %}`)
	start := cpuTicks(t, p.pid())
	p.post(t, "/v1/chat/completions", loop)
	one := cpuTicks(t, p.pid()) - start
	if one < 5 {
		t.Skipf("one render took %d CPU ticks: too little to tell cancelled renders from finished ones", one)
	}

	const clients = 12
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	start = cpuTicks(t, p.pid())
	var finished atomic.Int32
	for range clients {
		wg.Go(func() {
			if _, err := p.try(ctx, http.MethodPost, "/v1/chat/completions", strings.NewReader(loop)); err == nil {
				finished.Add(1) // answered before the cancel
			}
		})
	}
	// Cancel once the renders are well under way.
	waitFor(t, "the renders to start", func() bool { return cpuTicks(t, p.pid())-start >= one/2 })
	cancel()
	wg.Wait()
	waitFor(t, "the pod's CPU to settle", func() bool {
		a := cpuTicks(t, p.pid())
		time.Sleep(300 * time.Millisecond)
		return cpuTicks(t, p.pid())-a <= 3
	})
	spent := cpuTicks(t, p.pid()) - start
	t.Logf("one render: %d ticks; %d renders cancelled (%d answered first): %d ticks (run out: about %d)", one, clients, finished.Load(), spent, clients*one)
	if spent > clients*one/3 {
		t.Errorf("cancelled renders used %d CPU ticks, near the %d they take run out: they kept running after their clients left", spent, clients*one)
	}
	p.idle(t)
	p.checkGolden(t)
	p.stop(t)
}

// brokenAdapters writes, under root, a copy of qv-r4 ("good", and
// "team/member" one level down) and one adapter per way an adapter can be
// broken.
func brokenAdapters(t *testing.T, root string) {
	src := testmodels.Path(t, "stories260K", "adapters", "qv-r4")
	cfg, err := os.ReadFile(filepath.Join(src, "adapter_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	weights, err := os.ReadFile(filepath.Join(src, "adapter_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, config string, w []byte) {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "adapter_config.json"), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
		if w != nil {
			if err := os.WriteFile(filepath.Join(dir, "adapter_model.safetensors"), w, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// set returns qv-r4's config with key set to the JSON text value, which
	// may be one Go's encoding/json refuses (NaN, 1e999).
	set := func(key, value string) string {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(cfg, &m); err != nil || m[key] == nil {
			t.Fatalf("qv-r4's config has no %s: %v", key, err)
		}
		m[key] = json.RawMessage("0")
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Replace(string(out), `"`+key+`":0`, `"`+key+`":`+value, 1)
	}
	write("good", string(cfg), weights)
	write("team/member", string(cfg), weights)
	write("truncated", string(cfg), weights[:4000])
	write("rank-zero", set("r", "0"), weights)
	write("rank-mismatch", set("r", "8"), weights)
	write("alpha-nan", set("lora_alpha", "NaN"), weights)
	write("alpha-huge", set("lora_alpha", "1e999"), weights)
	write("alpha-negative", set("lora_alpha", "-8"), weights)
	write("no-weights", string(cfg), nil)
	write("bad-offsets", string(cfg), pastTheEnd(t, weights))
	// A header as long as the format allows, which took the pod most of a
	// GiB and half a minute to parse.
	write("huge-header", string(cfg), append(binary.LittleEndian.AppendUint64(nil, 95_000_000), "{}"...))
	write("unknown-target", set("target_modules", `["q_proj", "w_proj"]`), weights)
	if err := os.Symlink(src, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
}

// pastTheEnd rewrites the safetensors header of weights so that the tensor
// at offset 0 ends a gigabyte past the end of the file.
func pastTheEnd(t *testing.T, weights []byte) []byte {
	n := binary.LittleEndian.Uint64(weights[:8])
	header, data := weights[8:8+n], weights[8+n:]
	re := regexp.MustCompile(`"data_offsets":\s*\[\s*0\s*,\s*\d+\s*\]`)
	if !re.Match(header) {
		t.Fatal("no tensor of qv-r4 starts at offset 0")
	}
	header = re.ReplaceAll(header, []byte(`"data_offsets": [0, 1000000000]`))
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(out, header...), data...)
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Every broken adapter is a 4xx (a remote source that cannot be reached a
// 502) naming the adapter and its problem, with no server path or address;
// /v1/models lists only adapters that load.
func TestHardening3BrokenAdapters(t *testing.T) {
	root, cache := t.TempDir(), t.TempDir()
	brokenAdapters(t, root)
	closed := closedAddr(t)
	p := startPod(t, []string{"HF_ENDPOINT=http://" + closed, "GRAFT_S3_ENDPOINT=http://" + closed,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1", "AWS_MAX_ATTEMPTS=1", "AWS_EC2_METADATA_DISABLED=true"},
		"--adapter-root", root, "--adapter-cache", cache)
	model := testmodels.Path(t, "stories260K")
	for _, c := range []struct {
		id     string
		status int
		code   string
		want   string
	}{
		{"truncated", 400, "invalid_adapter", "adapter_model.safetensors is truncated: header says 20440 bytes, file has 4000"},
		{"rank-zero", 400, "invalid_adapter", "adapter_config.json: r = 0: the rank must be a whole number of at least 1"},
		{"rank-mismatch", 400, "invalid_adapter", "has shape [4 64], want [8 64]: the adapter does not fit this base model"},
		{"alpha-nan", 400, "invalid_adapter", "adapter_config.json: lora_alpha = NaN: must be a finite number"},
		{"alpha-huge", 400, "invalid_adapter", "adapter_config.json: lora_alpha = 1e999 is out of range"},
		{"alpha-negative", 400, "invalid_adapter", "adapter_config.json: lora_alpha = -8: must be a finite positive number"},
		{"no-weights", 400, "invalid_adapter", "adapter_model.safetensors is missing"},
		{"bad-offsets", 400, "invalid_adapter", "data_offsets [0, 1000000000]"},
		{"huge-header", 400, "invalid_adapter", "header length of 95000000 bytes, over the 8388608-byte limit for a LoRA adapter"},
		{"unknown-target", 400, "invalid_adapter", `target_modules names "w_proj", which is not a module of the base model`},
		{"..", 404, "model_not_found", `not a valid adapter id: path segment ".." not allowed`},
		{"../adapters/qv-r4", 404, "model_not_found", `not a valid adapter id: path segment ".." not allowed`},
		{"team", 404, "model_not_found", "adapter_config.json is missing"},
		{"escape", 404, "model_not_found", "links outside the adapter root"},
		{"hf://org/all-r8", 502, "adapter_source_unavailable", "could not reach the hf:// source: connection refused"},
		{"s3://adapters/all-r8", 502, "adapter_source_unavailable", "could not reach the s3:// source: connection refused"},
	} {
		t.Run(strings.NewReplacer("/", "_", ".", "dot").Replace(c.id), func(t *testing.T) {
			param := ""
			if c.status == 400 {
				param = "model"
			}
			e := wantError(t, c.id, p.post(t, "/v1/completions", fmt.Sprintf(`{"model": %q, "prompt": "Once", "max_tokens": 2}`, c.id)), c.status, param)
			if e.Error.Code == nil || *e.Error.Code != c.code {
				t.Errorf("code %v, want %s", e.Error.Code, c.code)
			}
			if !strings.Contains(e.Error.Message, "`"+c.id+"`") || !strings.Contains(e.Error.Message, c.want) {
				t.Errorf("message %q, want one naming `%s` and %q", e.Error.Message, c.id, c.want)
			}
			noServerPath(t, c.id, e.Error.Message, root, cache, model, closed)
			p.checkGolden(t)
		})
	}
	for _, id := range []string{"good", "team/member"} {
		if r := p.post(t, "/v1/completions", `{"model": "`+id+`", "prompt": "Once", "max_tokens": 2}`); r.status != 200 {
			t.Errorf("%s: %d %s", id, r.status, r.body)
		}
	}
	var list struct{ Data []struct{ ID string } }
	if r := p.do(t, http.MethodGet, "/v1/models", ""); r.status != 200 || json.Unmarshal([]byte(r.body), &list) != nil {
		t.Fatalf("/v1/models: %d %s", r.status, r.body)
	}
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	if want := []string{"good", "stories260K", "team/member"}; !slices.Equal(ids, want) {
		t.Errorf("/v1/models lists %v, want only the adapters that load: %v", ids, want)
	}
	p.stop(t)
}

// A body over the size limit is a 413; prompts over the old 4 MiB gRPC
// limit but within the body limit get the engine's 400 about the context,
// never a retryable 503; a body of tiny JSON values is a 413 too. The pod's
// peak memory stays within the README's bound for one request.
func TestHardening4Oversized(t *testing.T) {
	p := startPod(t, nil)
	p.checkGolden(t)
	// The bound is per request: each attack may raise the pod's peak by at
	// most that much over the peak before it. (Summing them would charge one
	// request with the garbage of the ones before it that the collector has
	// not yet returned, which depends on how busy the machine is.)
	peak := peakRSS(t, p.pid())
	within := func(what string) {
		t.Helper()
		now := peakRSS(t, p.pid())
		t.Logf("%s: peak RSS %d → %d MiB (bound: %d MiB more)", what, peak>>20, now>>20, requestMemoryBound>>20)
		if now-peak > requestMemoryBound {
			t.Errorf("%s: peak RSS grew by %d MiB, over the README's %d MiB for one request", what, (now-peak)>>20, requestMemoryBound>>20)
		}
		peak = now
	}

	huge := `{"model": "stories260K", "prompt": "` + strings.Repeat("x", 50_000_000) + `"}`
	e := wantError(t, "50 MB body", p.post(t, "/v1/completions", huge), 413, "")
	if e.Error.Code == nil || *e.Error.Code != "request_too_large" {
		t.Errorf("code %v, want request_too_large", e.Error.Code)
	}
	within("50 MB body")
	p.checkGolden(t)

	text := strings.Repeat("Once upon a time ", 5<<20/17) // 5 MiB
	for _, c := range []struct{ what, path, body, param string }{
		{"5 MiB prompt", "/v1/completions", fmt.Sprintf(`{"model": "stories260K", "prompt": %q}`, text), "prompt"},
		{"5 MiB message", "/v1/chat/completions", fmt.Sprintf(`{"model": "stories260K", "messages": [{"role": "user", "content": %q}]}`, text), "messages"},
		{"31 MiB prompt", "/v1/completions", fmt.Sprintf(`{"model": "stories260K", "prompt": %q}`, strings.Repeat("x", 31<<20)), "prompt"},
	} {
		e := wantError(t, c.what, p.post(t, c.path, c.body), 400, c.param)
		if !strings.Contains(e.Error.Message, "maximum context length is 2048 tokens") {
			t.Errorf("%s: message %q, want the context length", c.what, e.Error.Message)
		}
		within(c.what)
		p.checkGolden(t)
	}

	ids := `{"model": "stories260K", "prompt": [` + strings.Repeat("3,", 2<<20) + `3]}`
	e = wantError(t, "2M token ids", p.post(t, "/v1/completions", ids), 413, "")
	if !strings.Contains(e.Error.Message, "JSON values") {
		t.Errorf("message %q, want the limit on JSON values", e.Error.Message)
	}
	within("2M token ids")
	empties := `{"model": "stories260K", "messages": [` + strings.Repeat("{},", 1<<20) + `{}]}`
	wantError(t, "a million empty messages", p.post(t, "/v1/chat/completions", empties), 413, "")
	within("a million empty messages")
	p.checkGolden(t)
	p.stop(t)
}

// With one-second HTTP timeouts, a body trickled in a byte at a time is
// cut and an idle keep-alive connection is closed, while streams that last
// several times longer still complete.
func TestHardening5SlowClients(t *testing.T) {
	p := startPod(t, nil, "--max-num-seqs", "1",
		"--http-read-header-timeout", "1s", "--http-read-timeout", "1s", "--http-idle-timeout", "1s")
	t.Run("slow body is cut", func(t *testing.T) { slowBody(t, p.addr) })
	p.checkGolden(t)
	t.Run("idle keep-alive is closed", func(t *testing.T) { idleKeepAlive(t, p.addr) })
	p.checkGolden(t)
	t.Run("long streams complete", func(t *testing.T) { longStreams(t, p.addr) })
	p.checkGolden(t)
	p.stop(t)
}

// engineSocket is the engine's unix socket, from the pod's log.
func engineSocket(t *testing.T, p *pod) string {
	t.Helper()
	m := regexp.MustCompile(`msg="engine serving".* listen=unix://(\S+)`).FindStringSubmatch(p.logs.String())
	if m == nil {
		t.Fatalf("the pod did not log its engine socket:\n%s", p.logs.String())
	}
	return m[1]
}

// The engine's gRPC, reached directly on its socket, loads adapters only
// from the pod's adapter directories, and answers a path outside them the
// same whether or not it exists; the socket lives in a directory only its
// user may enter.
func TestHardening6EngineGRPC(t *testing.T) {
	tmp := t.TempDir()
	adapters := testmodels.Path(t, "stories260K", "adapters")
	p := startPod(t, []string{"TMPDIR=" + tmp}, "--adapter-root", adapters, "--adapter-cache", t.TempDir())
	sock := engineSocket(t, p)
	dir := filepath.Dir(sock)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(dir) != tmp || fi.Mode().Perm() != 0o700 {
		t.Errorf("engine socket %s: its directory has mode %v in %s, want a fresh 0700 directory in $TMPDIR", sock, fi.Mode().Perm(), filepath.Dir(dir))
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		t.Errorf("socket directory owned by uid %d, not this user", st.Uid)
	}

	conn, err := sidecar.Dial("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ec := enginev1.NewEngineClient(conn)
	ctx := context.Background()
	load := func(id, path string) error {
		_, err := ec.LoadAdapter(ctx, &enginev1.LoadAdapterRequest{AdapterId: id, Path: path})
		return err
	}
	hf := testmodels.Path(t, "stories260K", "hf")
	outside := []string{
		hf,                            // exists, holds safetensors
		"/etc",                        // exists
		filepath.Join(tmp, "missing"), // does not exist
		adapters + "/../hf",           // inside by prefix, outside once cleaned
		adapters + "/qv-r4/../../hf",
		"relative/path",
	}
	var first string
	for i, path := range outside {
		err := load(fmt.Sprintf("outside-%d", i), path)
		st, _ := status.FromError(err)
		if st.Code() != codes.InvalidArgument {
			t.Fatalf("LoadAdapter(%s): %v, want InvalidArgument", path, err)
		}
		if first == "" {
			first = st.Message()
			t.Logf("LoadAdapter outside the adapter dirs: %s: %s", st.Code(), first)
		}
		if st.Message() != first {
			t.Errorf("LoadAdapter(%s) says %q, LoadAdapter(%s) %q: the answers tell paths apart", path, st.Message(), outside[0], first)
		}
		noServerPath(t, path, st.Message(), tmp, hf, adapters)
	}
	// The adapter dirs themselves still work over the same connection.
	if err := load("direct-qv", filepath.Join(adapters, "qv-r4")); err != nil {
		t.Fatalf("LoadAdapter inside the adapter root: %v", err)
	}
	p.checkGolden(t, "qv-r4")
	p.stop(t)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket directory left behind after the pod stopped: %v", err)
	}
}

// The smaller holes: each bad request is OpenAI's 4xx JSON, a burst past
// the queue bound gets 429 with Retry-After, and adapters load while Redis
// hangs.
func TestHardening7SmallItems(t *testing.T) {
	rs := testserver.Redis(t)
	adapters := testmodels.Path(t, "stories260K", "adapters")
	p := startPod(t, nil, "--max-num-seqs", "1", "--max-queued", "2",
		"--adapter-root", adapters, "--adapter-cache", t.TempDir(),
		"--redis", "redis://"+rs.Addr+"/0", "--deployment", "hard", "--replica-id", "r1")

	badUTF8 := "{\"model\": \"stories260K\", \"prompt\": \"a\xff\xfeb\", \"max_tokens\": 2}"
	for _, c := range []struct {
		what, method, path, body string
		status                   int
		param, want              string
	}{
		{"null prompt", "POST", "/v1/completions", `{"model": "stories260K", "prompt": null}`, 400, "prompt", "you must provide a prompt"},
		{"missing role", "POST", "/v1/chat/completions", `{"model": "stories260K", "messages": [{"content": "hi"}]}`, 400, "messages[0].role", "Missing required parameter"},
		{"unknown role", "POST", "/v1/chat/completions", `{"model": "stories260K", "messages": [{"role": "wizard", "content": "hi"}]}`, 400, "messages[0].role", "Supported values are"},
		{"GET completions", "GET", "/v1/completions", "", 405, "", "use POST"},
		{"GET chat", "GET", "/v1/chat/completions", "", 405, "", "use POST"},
		{"unknown route", "GET", "/v1/nope", "", 404, "", "Invalid URL"},
		{"unknown POST route", "POST", "/v2/completions", "{}", 404, "", "Invalid URL"},
		{"invalid UTF-8", "POST", "/v1/completions", badUTF8, 400, "", "not valid UTF-8"},
		{"max_tokens 1e13", "POST", "/v1/completions", `{"model": "stories260K", "prompt": "hi", "max_tokens": 1e13}`, 400, "max_tokens", "must be an integer"},
		{"max_tokens 10^13", "POST", "/v1/completions", `{"model": "stories260K", "prompt": "hi", "max_tokens": 10000000000000}`, 400, "max_tokens", "too large"},
	} {
		e := wantError(t, c.what, p.do(t, c.method, c.path, c.body), c.status, c.param)
		if !strings.Contains(e.Error.Message, c.want) || strings.Contains(e.Error.Message, "at least 1") {
			t.Errorf("%s: message %q, want %q", c.what, e.Error.Message, c.want)
		}
	}
	p.checkGolden(t)

	t.Run("queue bound", func(t *testing.T) { queueBound(t, p) })
	p.idle(t)
	p.checkGolden(t)

	t.Run("adapters load while Redis hangs", func(t *testing.T) { redisHangs(t, p, rs) })
	p.checkGolden(t, "qv-r4", "all-r8", "mlp-r16", "o-r2-rslora")
	p.stop(t)
}

// queueBound sends a burst of long requests at a pod with one batch slot and
// two queue places: the overflow is 429 with Retry-After, the rest complete.
func queueBound(t *testing.T, p *pod) {
	const burst = 12
	body := `{"model": "stories260K", "prompt": "Once", "max_tokens": 1000, "ignore_eos": true}`
	counts := map[int]int{}
	for _, r := range p.burst(t, burst, "/v1/completions", body) {
		counts[r.status]++
		switch r.status {
		case 200:
		case 429:
			e := wantError(t, "over the queue bound", r, 429, "")
			if r.header.Get("Retry-After") == "" || e.Error.Code == nil || *e.Error.Code != "rate_limit_exceeded" {
				t.Errorf("429 with Retry-After %q, code %v", r.header.Get("Retry-After"), e.Error.Code)
			}
		default:
			t.Errorf("burst request: %d %s", r.status, r.body)
		}
	}
	t.Logf("burst of %d on 1 slot + 2 queue places: %v", burst, counts)
	if counts[429] == 0 || counts[200] == 0 || counts[200] > 1+2+burst/2 {
		t.Errorf("burst answered %v: want some 200s and the overflow 429", counts)
	}
}

// redisHangs stops the pod's Redis (SIGSTOP: it accepts connections and
// answers nothing, the worst an outage can look like), loads every adapter
// for the first time, and requires each request to finish within the time
// one Redis write would have waited; once Redis runs again the replica's
// residency catches up.
func redisHangs(t *testing.T, p *pod, rs *testserver.Process) {
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer rdb.Close()
	ctx := context.Background()
	waitFor(t, "the pod's heartbeat in Redis", func() bool {
		return rdb.HGet(ctx, state.ReplicaKey("hard", "r1"), "addr").Val() == p.addr
	})
	if err := syscall.Kill(rs.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(rs.PID, syscall.SIGCONT)
		}
	}
	defer resume()
	ids := []string{"qv-r4", "all-r8", "mlp-r16", "o-r2-rslora"}
	for _, id := range ids {
		start := time.Now()
		r := p.post(t, "/v1/completions", `{"model": "`+id+`", "prompt": "Once", "max_tokens": 4}`)
		took := time.Since(start)
		t.Logf("first request on %s with Redis stopped: %d in %v", id, r.status, took.Round(time.Millisecond))
		if r.status != 200 {
			t.Fatalf("%s: %d %s", id, r.status, r.body)
		}
		// Not a performance bound: a request that waited on Redis would
		// take at least the replica's Redis timeout, since Redis answers
		// nothing at all.
		if took >= replica.DefaultTimeout {
			t.Errorf("%s took %v with Redis stopped: the request waited on Redis (timeout %v)", id, took, replica.DefaultTimeout)
		}
	}
	resume()
	waitFor(t, "the residency to reach Redis once it runs again", func() bool {
		m, _ := rdb.SMembers(ctx, state.ResidencyKey("hard", "r1")).Result()
		slices.Sort(m)
		want := slices.Clone(ids)
		slices.Sort(want)
		return slices.Equal(m, want)
	})
}
